"""The real engine as pytest fixtures: vLLM 0.27.1 on CPU with a tiny offline model, behind the SageMaker relay.

    vLLM 0.27.1 (127.0.0.1, its own venv) ◀─ FakeSageMakerRuntime(relay_to=…) ◀─ boto3 in the proxy

Loaded for every test session as a plugin (tests/conftest.py), used by tests/engine and tests/e2e;
nothing starts unless a test asks for these fixtures:

- `engine_venv` (session): the venv tests/engine/setup.sh made (`VLLM_ENGINE_VENV` overrides the
  place). Missing: the test is skipped with the hint to run setup.sh; under CI (`CI=true`) it fails.
  vLLM keeps its compiled model in ~/.cache/vllm and torch's in /tmp/torchinductor_$USER
  (`VLLM_CACHE_ROOT`, `TORCHINDUCTOR_CACHE_DIR` move them): a second start is faster.
- `tiny_model` (session): a folder with a GPT-2 of 2 layers, 64 wide, 1024 positions and its
  tokenizer, made now by make_model.py (about 15 s), with the dev stack's chat template
  (Pulumi.dev.yaml's `chatTemplate`, which ignores `tools`).
- `vllm_engine` (session) → `Engine(url, model)`: `python -m vllm.entrypoints.openai.api_server`
  on a free port, `--max-model-len 1024 --dtype float32`, `VLLM_CPU_KVCACHE_SPACE=1`; up when
  `/ping` answers (about 30 to 90 s on 2 cores, at most `ENGINE_START_SECONDS` = 300); stopped, with
  its workers, at the end. `ENGINE_URL=http://127.0.0.1:PORT` uses a vLLM already running instead
  (serving `MODEL_ID`), which saves the start while working on the tests.
- `engine_relay` (session): the fake SageMaker runtime relaying to it; `relay` (per test): the
  same with no scripted replies and no recorded requests.
- `engine_proxy_env` (per test): the proxy's environment as ProxyFunction sets it, pointed at the
  relay (key `API_KEY`, model `MODEL_ID`); tests add `MAX_OUTPUT_TOKENS`, `STOP_SEQUENCES`… with monkeypatch.
The vLLM log lands in tests/engine/artifacts/vllm.log (gitignored).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.fakes import configure_proxy
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ARTIFACTS = HERE / "artifacts"
VENV = Path(
    os.environ.get("VLLM_ENGINE_VENV")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sagemaker-llm" / "vllm-engine"
)
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
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    template = folder / "chat_template.jinja"
    template.write_text(dev_chat_template())
    command = [str(engine_venv / "bin" / "python"), str(HERE / "make_model.py"), str(folder / "model")]
    result = subprocess.run(
        [*command, "--chat-template-file", str(template)],
        env=_engine_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"make_model.py failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return folder / "model"


def _engine_environment() -> dict[str, str]:
    # Offline and quiet: no hub, no usage reports; a 1 GiB KV cache is plenty for 1024 positions.
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    } | {name: os.environ[name] for name in ("VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR") if name in os.environ}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _stop_group(process: subprocess.Popen) -> None:
    """vLLM runs its engine core in child processes: end the whole group it leads."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture(scope="session")
def vllm_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    running = os.environ.get("ENGINE_URL")
    if running:
        if not _answers(f"{running.rstrip('/')}/ping"):
            pytest.fail(f"ENGINE_URL={running} does not answer /ping")
        yield Engine(running.rstrip("/"), MODEL_ID)
        return
    venv: Path = request.getfixturevalue("engine_venv")
    model: Path = request.getfixturevalue("tiny_model")
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "vllm.log"
    command = [
        str(venv / "bin" / "python"),
        *("-m", "vllm.entrypoints.openai.api_server"),
        *("--model", str(model), "--served-model-name", MODEL_ID),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--max-model-len", str(MAX_MODEL_LEN), "--dtype", "float32"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=_engine_environment(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ENGINE_START_SECONDS
        while not _answers(f"{url}/ping"):
            if process.poll() is not None:
                pytest.fail(f"vLLM exited with {process.returncode} while starting:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM did not answer /ping within {ENGINE_START_SECONDS} s:\n{_tail(log)}")
            time.sleep(1)
        yield Engine(url, MODEL_ID)
    finally:
        _stop_group(process)


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def engine_relay(vllm_engine: Engine) -> Iterator[FakeSageMakerRuntime]:
    with FakeSageMakerRuntime(relay_to=vllm_engine.url) as fake:
        yield fake


@pytest.fixture
def relay(engine_relay: FakeSageMakerRuntime) -> Iterator[FakeSageMakerRuntime]:
    """The relay in front of vLLM, with no scripted replies or recorded requests left from another test."""
    engine_relay.reset()
    yield engine_relay
    engine_relay.reset()


@pytest.fixture
def engine_proxy_env(monkeypatch: pytest.MonkeyPatch, relay: FakeSageMakerRuntime) -> FakeSageMakerRuntime:
    """The proxy configured as deployed (openai dialect, a key required) in front of the relay."""
    configure_proxy(monkeypatch, relay.url, endpoint=ENDPOINT, model_id=MODEL_ID, api_key=API_KEY)
    return relay
