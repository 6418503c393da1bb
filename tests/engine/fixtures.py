"""The real engine as pytest fixtures: vLLM 0.27.1 on CPU with a tiny offline model, behind the SageMaker relay.

    vLLM 0.27.1 (127.0.0.1, its own venv) ◀─ SageMakerRuntime(relay_to=…) ◀─ boto3 in the proxy

Loaded for every test session as a plugin (tests/conftest.py), used by tests/engine and tests/e2e;
nothing starts unless a test asks for these fixtures:

- `engine_venv` (session): the venv tests/engine/setup.sh made (`VLLM_ENGINE_VENV` overrides the
  place). Missing: the test is skipped with the hint to run setup.sh; under CI (`CI=true`) it fails.
  vLLM keeps its compiled model in ~/.cache/vllm and torch's in /tmp/torchinductor_$USER
  (`VLLM_CACHE_ROOT`, `TORCHINDUCTOR_CACHE_DIR` move them): a second start is faster.
- `tiny_model` (session): a folder with a GPT-2 of 2 layers, 64 wide, 1024 positions and its
  tokenizer, made now by make_model.py (about 15 s), with the dev stack's chat template
  (Pulumi.dev.yaml's `chatTemplate`, which ignores `tools`).
- `vllm_engine` (session) → `Engine(url, model)`: vLLM started as `sagemaker-llm-local` starts it
  (sagemaker_llm_local/engine.py: the DLC's command line from `SM_VLLM_*`, its own process group) on a
  free port, `--max-model-len 1024 --dtype float32`, `VLLM_CPU_KVCACHE_SPACE=1`; up when
  `/ping` answers (about 30 to 90 s on 2 cores, at most `ENGINE_START_SECONDS` = 300); stopped, with
  its workers, at the end. `ENGINE_URL=http://127.0.0.1:PORT` uses a vLLM already running instead
  (serving `MODEL_ID`), which saves the start while working on the tests.
- `engine_relay` (session): the SageMaker runtime emulator (sagemaker_llm_local) relaying to it; `relay` (per test): the
  same with no scripted replies and no recorded requests.
- `engine_proxy_env` (per test): the proxy's environment as ProxyFunction sets it, pointed at the
  relay (key `API_KEY`, model `MODEL_ID`); tests add `MAX_OUTPUT_TOKENS`, `STOP_SEQUENCES`… with monkeypatch.
The vLLM log lands in tests/engine/artifacts/vllm.log (gitignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sagemaker_llm_local.engine import (
    container_flags,
    container_process_variables,
    default_venv,
    engine_environment,
    failure_cause,
    vllm_command,
)
from sagemaker_llm_local.processes import StartError, answers, start_group, stop_group, wait_until_answers
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.fakes import configure_proxy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = HERE / "artifacts"
VENV = default_venv()
MODEL_ID = "tiny-gpt2"
ENDPOINT = "engine-endpoint"
API_KEY = "engine-test-key-0123456789"
MAX_MODEL_LEN = 1024
ENGINE_START_SECONDS = 300


@dataclass(frozen=True)
class Engine:
    url: str
    """vLLM's base URL (http://127.0.0.1:PORT): /ping, /invocations, /v1/…"""
    model: str
    """its served model name"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dev_chat_template() -> str:
    """Pulumi.dev.yaml's chatTemplate (distilgpt2 has none): `User:`/`Assistant:` turns; it ignores tools."""
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    return config["sagemaker-llm:chatTemplate"]


def skip_or_fail(message: str) -> None:
    """Skip a test whose heavy tool is not installed; under CI, which runs the setup scripts first, fail."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def engine_venv() -> Path:
    if not (VENV / "bin" / "python").exists():
        skip_or_fail(f"no vLLM engine venv at {VENV}: run `bash tests/engine/setup.sh` first")
    return VENV


@pytest.fixture(scope="session")
def tiny_model(engine_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(engine_venv, "make_model.py", tmp_path_factory.mktemp("tiny-gpt2"))


def make_model(venv: Path, script: str, folder: Path) -> Path:
    """`folder`/model made by tests/engine/`script` with the dev stack's chat template."""
    template = folder / "chat_template.jinja"
    template.write_text(dev_chat_template())
    command = [str(venv / "bin" / "python"), str(HERE / script), str(folder / "model")]
    result = subprocess.run(
        [*command, "--chat-template-file", str(template)],
        env=_engine_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{script} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return folder / "model"


def _engine_environment() -> dict[str, str]:
    # Offline and quiet (sagemaker-llm-local's engine environment), nothing else from the shell; a 1 GiB KV
    # cache is plenty for 1024 positions.
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    base |= {name: os.environ[name] for name in ("VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR") if name in os.environ}
    return engine_environment(base | {"VLLM_CPU_KVCACHE_SPACE": "1"}, cpu=True, offline=True)


@pytest.fixture(scope="session")
def vllm_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    running = os.environ.get("ENGINE_URL")
    if running:
        if not answers(f"{running.rstrip('/')}/ping"):
            pytest.fail(f"ENGINE_URL={running} does not answer /ping")
        yield Engine(running.rstrip("/"), MODEL_ID)
        return
    venv: Path = request.getfixturevalue("engine_venv")
    model: Path = request.getfixturevalue("tiny_model")
    with running_engine(venv, tiny_container(model), "vllm.log") as url:
        yield Engine(url, MODEL_ID)


def tiny_container(model: Path, served_model_name: str = MODEL_ID, **more: str) -> dict[str, str]:
    """The container's variables for the tiny model, as ModelEndpoint gives them, plus float32 for the CPU."""
    return {
        "SM_VLLM_MODEL": str(model),
        "SM_VLLM_SERVED_MODEL_NAME": served_model_name,
        "SM_VLLM_MAX_MODEL_LEN": str(MAX_MODEL_LEN),
        "SM_VLLM_DTYPE": "float32",
        **more,
    }


@contextmanager
def running_engine(venv: Path, container: Mapping[str, str], log_name: str) -> Iterator[str]:
    """vLLM on a free port started as sagemaker-llm-local starts it: the SM_VLLM_* become the DLC's flags, the
    other variables stay in its environment; its URL once /ping answers; stopped, with its workers, after."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / log_name
    log.unlink(missing_ok=True)
    environment = _engine_environment() | container_process_variables(container)
    process = start_group(vllm_command(venv / "bin" / "python", container_flags(container), port), environment, log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_answers("vLLM", f"{url}/ping", process, log, seconds=ENGINE_START_SECONDS, cause=failure_cause)
        except StartError as error:
            pytest.fail(f"{error}\n{_tail(log)}")
        yield url
    finally:
        stop_group(process)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def engine_relay(vllm_engine: Engine) -> Iterator[SageMakerRuntime]:
    with SageMakerRuntime(relay_to=vllm_engine.url) as runtime:
        yield runtime


@pytest.fixture
def relay(engine_relay: SageMakerRuntime) -> Iterator[SageMakerRuntime]:
    """The relay in front of vLLM, with no scripted replies or recorded requests left from another test."""
    engine_relay.reset()
    yield engine_relay
    engine_relay.reset()


@pytest.fixture
def engine_proxy_env(monkeypatch: pytest.MonkeyPatch, relay: SageMakerRuntime) -> SageMakerRuntime:
    """The proxy configured as deployed (openai dialect, a key required) in front of the relay."""
    configure_proxy(monkeypatch, relay.url, endpoint=ENDPOINT, served_model_name=MODEL_ID, api_key=API_KEY)
    return relay
