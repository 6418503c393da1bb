"""A person chats with the model through OpenWebUI: the pieces fit as deployed, in a real browser.

vLLM 0.27.1 ◀─ SageMaker relay ◀─ openai-proxy (the `openai-proxy` command) ◀─ open-webui serve
    ◀─ nginx (the UI host's origin check) ◀─ Chromium

Chromium plays CloudFront's part: it sends the secret origin header with every request, WebSocket
handshakes included, to the UI host's real reverse proxy (tests/components/ui_origin.py: nginx with
the configuration the boot script renders). The model server is the real engine
(tests/engine/fixtures.py: vLLM 0.27.1 on CPU with a tiny GPT-2 and the dev stack's chat template,
behind the fake SageMaker runtime in RELAY mode); the proxy is configured as ProxyFunction
configures it for the dev stack (no tool-call parser, its maxOutputTokens and chatStopSequences).
OpenWebUI runs with exactly the environment the UI host gives it (openwebui/environment.py), from
the `open-webui` package at the pinned image's version, in the venv tests/e2e/setup.sh makes. The
model writes gibberish, so the test asserts what OpenWebUI stored for the answer (done, not empty,
no error), not its words.
Run: see tests/e2e/README.md.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.scale_to_zero import component_name_for
from openwebui.environment import openwebui_environment
from tests.components.ui_origin import ORIGIN_HEADER, free_port, nginx_missing, origin_proxy
from tests.conftest import stack_file_config
from tests.engine.fixtures import MODEL_ID, skip_or_fail
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
VENV = Path(
    os.environ.get("OPENWEBUI_E2E_VENV")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sagemaker-llm" / "openwebui-e2e"
)
API_KEY = "e2e-api-key-6c1f0a"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "e2e-admin-password-93d1"
MESSAGE = "What is the capital of France?"
DEV_STACK = stack_file_config("dev")


@dataclass(frozen=True)
class UI:
    """Where the browser opens OpenWebUI (the host's nginx) and the header CloudFront would add."""

    url: str
    headers: dict[str, str]


def wait_for(url: str, seconds: float, process: subprocess.Popen, log: Path, headers: dict | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
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
        skip_or_fail(f"no OpenWebUI venv at {VENV}: run `bash tests/e2e/setup.sh` first")
    if not Path("/usr/bin/chromium").exists():
        skip_or_fail("no /usr/bin/chromium: run `bash tests/e2e/setup.sh` first")
    if nginx_missing():
        skip_or_fail("no nginx: run `bash tests/e2e/setup.sh` first")
    ARTIFACTS.mkdir(exist_ok=True)
    return VENV


@pytest.fixture(scope="module")
def sagemaker(open_webui_venv: Path, engine_relay: FakeSageMakerRuntime) -> FakeSageMakerRuntime:
    """SageMaker relaying to the real engine (started once the browser's venv is known to be there)."""
    engine_relay.reset()
    return engine_relay


@pytest.fixture(scope="module")
def api_url(sagemaker: FakeSageMakerRuntime) -> Iterator[str]:
    """The `openai-proxy` command, configured as ProxyFunction does for the dev stack, in front of SageMaker."""
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
        "MAX_OUTPUT_TOKENS": str(DEV_STACK["sagemaker-llm:maxOutputTokens"]),
        "STOP_SEQUENCES": json.dumps(DEV_STACK["sagemaker-llm:chatStopSequences"]),
    }
    if DEV_STACK.get("sagemaker-llm:scaleToZero"):  # the dev stack invokes its inference component
        env["INFERENCE_COMPONENT_NAME"] = component_name_for("fake-endpoint")
    log = ARTIFACTS / "openai-proxy.log"
    command = [str(Path(sys.executable).parent / "openai-proxy"), "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, env, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", 30, process, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)


@pytest.fixture(scope="module")
def ui(open_webui_venv: Path, api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """`open-webui serve` with the environment the UI host's user data gives the container, behind the host's nginx."""
    secret = secrets.token_hex(20)  # 40 letters and digits, as the stack generates it
    headers = {ORIGIN_HEADER: secret}
    openwebui_port = free_port()
    conf_dir = tmp_path_factory.mktemp("openwebui-conf")
    with origin_proxy(openwebui_port, secret, conf_dir, ARTIFACTS / "nginx.log") as proxy_port:
        # WEBUI_URL is where people open the UI: the proxy's address, as it is CloudFront's when deployed.
        url = f"http://127.0.0.1:{proxy_port}"
        environment = openwebui_environment(
            api_base_url=api_url,
            api_key=API_KEY,
            model_id=MODEL_ID,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            secret_key="e2e-webui-secret-key",
            ui_url=url,
        )
        # DATA_DIR is /app/backend/data in the image (the data volume); here a fresh folder per run.
        env = base_env() | environment | {"DATA_DIR": str(tmp_path_factory.mktemp("open-webui-data"))}
        log = ARTIFACTS / "open-webui.log"
        serve = ["serve", "--host", "127.0.0.1", "--port", str(openwebui_port)]
        process = start([str(open_webui_venv / "bin" / "open-webui"), *serve], env, log)
        try:
            wait_for(f"{url}/health", 240, process, log, headers)
            yield UI(url, headers)
        finally:
            stop(process)


def openwebui_api(ui: UI, path: str, token: str | None = None, body: dict | None = None) -> object:
    headers = ui.headers | {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(ui.url + path, data, headers, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def stored_answer(ui: UI, seconds: float = 120) -> dict:
    """The assistant message of the only chat, as OpenWebUI stored it, once it is done (or the last seen)."""
    token = openwebui_api(ui, "/api/v1/auths/signin", body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    token = token["token"]
    deadline = time.monotonic() + seconds
    answer: dict = {}
    while time.monotonic() < deadline:
        chats = openwebui_api(ui, "/api/v1/chats/", token)
        if chats:
            chat = openwebui_api(ui, f"/api/v1/chats/{chats[0]['id']}", token)["chat"]
            messages = chat["history"]["messages"].values()
            answer = next((m for m in messages if m.get("role") == "assistant"), {})
            if answer.get("done"):
                return answer
        time.sleep(1)
    return answer


def test_admin_signs_in_picks_the_model_and_gets_the_engines_answer(ui, sagemaker):
    screenshot = ARTIFACTS / "chat.png"
    command = [
        str(VENV / "bin" / "python"),
        str(HERE / "browser_chat.py"),
        *("--url", ui.url, "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD),
        *("--model", MODEL_ID, "--message", MESSAGE, "--screenshot", str(screenshot)),
        *(arg for name, value in ui.headers.items() for arg in ("--header", f"{name}: {value}")),
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}\nscreenshot: {screenshot}"
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    answer = stored_answer(ui)
    assert answer.get("done") is True, answer
    assert not answer.get("error"), answer
    assert answer["content"].strip(), answer
    assert answer["content"].split()[0] in outcome["reply"]  # what the browser showed is what was stored
    assert screenshot.stat().st_size > 10_000
    # OpenWebUI's live updates (socket.io, which carries the streamed answer) came through nginx.
    socket_io = [ws for ws in outcome["websockets"] if ws["url"].startswith(ui.url.replace("http", "ws") + "/ws/")]
    assert socket_io and max(ws["frames_received"] for ws in socket_io) > 0, outcome["websockets"]
    # The session cookie is Secure (as over CloudFront's https); Chromium keeps it on loopback http.
    assert {"name": "token", "secure": True, "httpOnly": True} in outcome["cookies"], outcome["cookies"]
    # The answer came through the whole path: OpenWebUI → proxy (with the key) → SageMaker → vLLM.
    asked = [r.json for r in sagemaker.requests if r.streaming]
    chat = next(body for body in asked if any(m.get("content") == MESSAGE for m in body.get("messages", [])))
    assert "tools" not in chat  # OpenWebUI sent its built-in tools; the dev stack's vLLM has no parser for them
    if DEV_STACK.get("sagemaker-llm:scaleToZero"):
        components = {r.headers.get("x-amzn-sagemaker-inference-component") for r in sagemaker.requests}
        assert components == {component_name_for("fake-endpoint")}


def test_a_request_that_did_not_come_through_cloudfront_gets_403_from_the_proxy(ui):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{ui.url}/auth", timeout=10)  # the page the browser opened, without the header

    assert refused.value.code == 403
    with urllib.request.urlopen(urllib.request.Request(f"{ui.url}/auth", headers=ui.headers), timeout=10) as page:
        assert page.status == 200
