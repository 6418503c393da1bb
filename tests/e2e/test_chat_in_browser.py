"""A person chats with the model through OpenWebUI: the pieces fit as deployed, in a real browser.

sagemaker-llm-local --stack dev (vLLM 0.27.1 ◀─ SageMaker's runtime ◀─ openai-proxy ◀─ open-webui serve)
    ◀─ nginx (the UI host's origin check) ◀─ Chromium

The chain is the one a user starts with `sagemaker-llm-local`, so the path a user runs is the path this test
proves: vLLM 0.27.1 on CPU with a tiny GPT-2 and the dev stack's container settings (chat template, max model
length), the runtime emulator serving the dev stack's inference component only, the proxy configured as
ProxyFunction configures it for the dev stack (the streaming path of apiStreaming, no tool-call parser, its
maxOutputTokens and chatStopSequences), OpenWebUI with exactly the environment the UI host gives it
(openwebui/environment.py), from the `open-webui` package at the pinned image's version, in the venv
tests/e2e/setup.sh makes. Chromium plays CloudFront's part: it sends the secret origin header with every
request, WebSocket handshakes included, to the UI host's real reverse proxy (tests/components/ui_origin.py:
nginx with the configuration the boot script renders). The model writes gibberish, so the test asserts what
OpenWebUI stored for the answer (done, not empty, no error), not its words.
Run: see tests/e2e/README.md.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sagemaker_llm_local.chat_ui import default_venv
from tests.components.ui_origin import ORIGIN_HEADER, free_port, nginx_missing, origin_proxy
from tests.engine.fixtures import skip_or_fail
from tests.local.local_command import CommandFailed, Running, local_command

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
VENV = default_venv()
MODEL_ID = "model"  # the tiny model's folder name: the dev stack sets no servedModelName
MESSAGE = "What is the capital of France?"
LOCAL_DATA = ARTIFACTS / "local-data"
"""sagemaker-llm-local's folder (XDG_DATA_HOME): its logs, OpenWebUI's data; made anew for each run."""


@dataclass(frozen=True)
class UI:
    """Where the browser opens OpenWebUI (the host's nginx), the header CloudFront would add, the admin's login."""

    url: str
    headers: dict[str, str]
    admin_email: str
    admin_password: str


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
def chain(open_webui_venv: Path, engine_venv: Path, tiny_model: Path) -> Iterator[Running]:
    """`sagemaker-llm-local --stack dev --model <tiny model>`, with OpenWebUI on a free port."""
    shutil.rmtree(LOCAL_DATA, ignore_errors=True)  # a fresh OpenWebUI: one user, no chats
    args = ["--stack", "dev", "--model", str(tiny_model), "--api-port", "0", "--ui-port", str(free_port())]
    env = {"VLLM_ENGINE_VENV": str(engine_venv), "OPENWEBUI_E2E_VENV": str(open_webui_venv)}
    try:
        with local_command(
            args, env | {"XDG_DATA_HOME": str(LOCAL_DATA)}, start_seconds=600, log=ARTIFACTS / "sagemaker-llm-local.log"
        ) as running:
            yield running
    except CommandFailed as failed:
        pytest.fail(f"{failed}\nlogs: {LOCAL_DATA}/sagemaker-llm/local/dev/logs")


@pytest.fixture(scope="module")
def ui(chain: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """OpenWebUI as sagemaker-llm-local serves it, behind the UI host's nginx."""
    address, admin_email, admin_password = chain.ui
    secret = secrets.token_hex(20)  # 40 letters and digits, as the stack generates it
    openwebui_port = int(address.rsplit(":", 1)[1])
    conf_dir = tmp_path_factory.mktemp("openwebui-conf")
    with origin_proxy(openwebui_port, secret, conf_dir, ARTIFACTS / "nginx.log") as proxy_port:
        yield UI(f"http://127.0.0.1:{proxy_port}", {ORIGIN_HEADER: secret}, admin_email, admin_password)


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
    token = openwebui_api(ui, "/api/v1/auths/signin", body={"email": ui.admin_email, "password": ui.admin_password})
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


def chat_in_browser(ui: UI, model: str, screenshot: Path) -> tuple[dict, dict]:
    """The admin signs in, picks `model` and sends MESSAGE in Chromium (browser_chat.py) → what the browser
    showed, and the answer OpenWebUI stored."""
    command = [
        str(VENV / "bin" / "python"),
        str(HERE / "browser_chat.py"),
        *("--url", ui.url, "--email", ui.admin_email, "--password", ui.admin_password),
        *("--model", model, "--message", MESSAGE, "--screenshot", str(screenshot)),
        *(arg for name, value in ui.headers.items() for arg in ("--header", f"{name}: {value}")),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}\nscreenshot: {screenshot}"
    return json.loads(result.stdout.strip().splitlines()[-1]), stored_answer(ui)


def test_admin_signs_in_picks_the_model_and_gets_the_engines_answer(ui):
    screenshot = ARTIFACTS / "chat.png"

    outcome, answer = chat_in_browser(ui, MODEL_ID, screenshot)

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
    # The answer came through the whole path: OpenWebUI → proxy (with the key) → SageMaker → vLLM. OpenWebUI
    # sent its built-in tools: had the proxy forwarded them, the dev stack's vLLM (no tool parser) would have
    # answered 400; had it not named the dev stack's inference component, the emulator would have refused it.
    proxy_log = LOCAL_DATA / "sagemaker-llm" / "local" / "dev" / "logs" / "openai-proxy.log"
    chats = [json.loads(line) for line in proxy_log.read_text().splitlines() if '"/v1/chat/completions"' in line]
    # The message itself streams; OpenWebUI's title, tags and follow-ups come unstreamed, and may outgrow the
    # tiny model's 1024 positions (a 400 the UI keeps to itself).
    streamed = [chat for chat in chats if chat.get("stream")]
    assert streamed and all(chat["status"] == 200 for chat in streamed), chats


def test_a_request_that_did_not_come_through_cloudfront_gets_403_from_the_proxy(ui):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{ui.url}/auth", timeout=10)  # the page the browser opened, without the header

    assert refused.value.code == 403
    with urllib.request.urlopen(urllib.request.Request(f"{ui.url}/auth", headers=ui.headers), timeout=10) as page:
        assert page.status == 200
