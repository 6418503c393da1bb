"""A person picks a LoRA fine-tune in OpenWebUI's model menu and chats with it, in a real browser.

sagemaker-llm-local --stack dev --model <tiny Llama> --adapter tiny-support=<its .tar.gz>
    (vLLM 0.27.1 --enable-lora ◀─ SageMaker's runtime: base + adapter component ◀─ openai-proxy ◀─ open-webui serve)
        ◀─ Chromium

The tiny Llama and its adapter are made offline (tests/engine/lora_fixtures.py); the command registers the
adapter with vLLM as SageMaker registers an adapter component, and the proxy lists it in /v1/models, which is
where OpenWebUI's model menu comes from. The browser signs in, picks the adapter in that menu and sends a
message; then OpenWebUI's API says which model its stored answer came from, and the proxy's log says which model
it invoked. nginx in front of OpenWebUI is test_chat_in_browser.py's part, not repeated here. Run: see
tests/e2e/README.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.ui_origin import free_port

# open_webui_venv: the fixture that skips (or under CI fails) without OpenWebUI, chromium and nginx.
from tests.e2e.test_chat_in_browser import (  # noqa: F401
    ARTIFACTS,
    UI,
    chat_in_browser,
    open_webui_venv,
    openwebui_api,
)
from tests.local.local_command import CommandFailed, Running, local_command

pytestmark = pytest.mark.e2e

ADAPTER = "tiny-support"
BASE_MODEL = "base"  # the tiny Llama's folder name: the dev stack sets no servedModelName
LOCAL_DATA = ARTIFACTS / "local-data-adapter"
"""sagemaker-llm-local's folder (XDG_DATA_HOME) for this run: its logs, OpenWebUI's data; made anew each time."""
LOGS = LOCAL_DATA / "sagemaker-llm" / "local" / "dev" / "logs"


@pytest.fixture(scope="module")
def chain(open_webui_venv: Path, engine_venv: Path, lora_model: Path) -> Iterator[Running]:  # noqa: F811
    """`sagemaker-llm-local --stack dev` with the tiny Llama and one adapter as its archive, OpenWebUI on."""
    shutil.rmtree(LOCAL_DATA, ignore_errors=True)  # a fresh OpenWebUI: one user, no chats
    args = ["--stack", "dev", "--model", str(lora_model / "base"), "--api-port", "0", "--ui-port", str(free_port())]
    args += ["--adapter", f"{ADAPTER}={lora_model / 'adapters' / f'{ADAPTER}.tar.gz'}"]
    env = {"VLLM_ENGINE_VENV": str(engine_venv), "OPENWEBUI_E2E_VENV": str(open_webui_venv)}
    log = ARTIFACTS / "sagemaker-llm-local-adapter.log"
    try:
        with local_command(args, env | {"XDG_DATA_HOME": str(LOCAL_DATA)}, start_seconds=600, log=log) as running:
            yield running
    except CommandFailed as failed:
        pytest.fail(f"{failed}\nlogs: {LOGS}")


@pytest.fixture(scope="module")
def ui(chain: Running) -> UI:
    address, admin_email, admin_password = chain.ui
    return UI(address, {}, admin_email, admin_password)


def test_admin_picks_the_adapter_in_the_model_menu_and_gets_its_answer(ui):
    screenshot = ARTIFACTS / "chat-adapter.png"

    outcome, answer = chat_in_browser(ui, ADAPTER, screenshot)

    signed_in = openwebui_api(ui, "/api/v1/auths/signin", body={"email": ui.admin_email, "password": ui.admin_password})
    menu = [model["id"] for model in openwebui_api(ui, "/api/models", signed_in["token"])["data"]]
    assert sorted(menu) == sorted([BASE_MODEL, ADAPTER])  # OpenWebUI's menu is the API's /v1/models
    # OpenWebUI stored the answer as the adapter's: done, not empty, no error, what the browser showed.
    assert answer.get("model") == ADAPTER, answer
    assert answer.get("done") is True, answer
    assert not answer.get("error"), answer
    assert answer["content"].strip(), answer
    assert answer["content"].split()[0] in outcome["reply"]
    # The proxy invoked the adapter's model for the chat (the streamed request; OpenWebUI's title and tags
    # requests come unstreamed), and it answered 200: the adapter component reached vLLM's registered adapter.
    lines = (LOGS / "openai-proxy.log").read_text().splitlines()
    chats = [json.loads(line) for line in lines if '"/v1/chat/completions"' in line]
    streamed = [chat for chat in chats if chat.get("stream")]
    assert streamed and all(chat["model"] == ADAPTER and chat["status"] == 200 for chat in streamed), chats
    # vLLM loaded the adapter the command registered (SageMaker's POST /adapters), and no other.
    loaded = [line for line in (LOGS / "vllm.log").read_text().splitlines() if "Loaded new LoRA adapter" in line]
    assert len(loaded) == 1, loaded
