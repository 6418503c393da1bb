"""A person chats with the model through OpenWebUI: the pieces fit as deployed, in a real browser.

fake SageMaker runtime ◀─ openai-proxy (the `openai-proxy` command) ◀─ open-webui serve ◀─ Chromium

OpenWebUI runs with exactly the environment the UI host gives it (openwebui/environment.py), from
the `open-webui` package at the pinned image's version, in the venv tests/e2e/setup.sh makes.
Run: see tests/e2e/README.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from openwebui.environment import openwebui_environment
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
VENV = Path(
    os.environ.get("OPENWEBUI_E2E_VENV")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sagemaker-llm" / "openwebui-e2e"
)
MODEL_ID = "distilgpt2"
API_KEY = "e2e-api-key-6c1f0a"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "e2e-admin-password-93d1"
MESSAGE = "What is the capital of France?"
REPLY = f"Hello from the fake model! You said: {MESSAGE}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} not up after {seconds:.0f} s; see {log}")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def base_env() -> dict[str, str]:
    # Nothing inherited that could send traffic elsewhere (proxies, AWS profiles).
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def open_webui_venv() -> Path:
    if not (VENV / "bin" / "open-webui").exists():
        pytest.skip(f"no OpenWebUI venv at {VENV}: run tests/e2e/setup.sh first")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium: run tests/e2e/setup.sh first")
    ARTIFACTS.mkdir(exist_ok=True)
    return VENV


@pytest.fixture(scope="module")
def sagemaker() -> Iterator[FakeSageMakerRuntime]:
    with FakeSageMakerRuntime() as fake:
        yield fake


@pytest.fixture(scope="module")
def api_url(sagemaker: FakeSageMakerRuntime) -> Iterator[str]:
    """The `openai-proxy` command, configured as deployed (a key required), in front of the fake."""
    port = free_port()
    env = base_env() | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": sagemaker.url,
        "SAGEMAKER_ENDPOINT_NAME": "fake-endpoint",
        "MODEL_ID": MODEL_ID,
        "API_KEY": API_KEY,
    }
    log = ARTIFACTS / "openai-proxy.log"
    command = [str(Path(sys.executable).parent / "openai-proxy"), "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, env, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", 30, process, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def open_webui(open_webui_venv: Path, api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`open-webui serve` with the environment the UI host's user data gives the container."""
    port = free_port()
    environment = openwebui_environment(
        api_base_url=api_url,
        api_key=API_KEY,
        model_id=MODEL_ID,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        secret_key="e2e-webui-secret-key",
    )
    # DATA_DIR is /app/backend/data in the image (the data volume); here a fresh folder per run.
    env = base_env() | environment | {"DATA_DIR": str(tmp_path_factory.mktemp("open-webui-data"))}
    log = ARTIFACTS / "open-webui.log"
    command = [str(open_webui_venv / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, env, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", 240, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def test_admin_signs_in_picks_the_model_and_sees_its_reply(open_webui, sagemaker):
    screenshot = ARTIFACTS / "chat.png"
    command = [
        str(VENV / "bin" / "python"),
        str(HERE / "browser_chat.py"),
        *("--url", open_webui, "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD),
        *("--model", MODEL_ID, "--message", MESSAGE, "--expect", REPLY, "--screenshot", str(screenshot)),
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}\nscreenshot: {screenshot}"
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert REPLY in outcome["reply"]
    assert screenshot.stat().st_size > 10_000
    # The reply came through the whole path: OpenWebUI → proxy (with the key) → SageMaker.
    asked = [r.json for r in sagemaker.requests if r.streaming]
    assert any(m.get("content") == MESSAGE for body in asked for m in body.get("messages", []))
