"""A web app on an allowed origin calls the API from a real browser (apiCorsOrigins on the streaming API).

headless Chromium, a page of http://127.0.0.1:<page port> ─fetch─▶ openai-proxy on http://127.0.0.1:<api port>
    (configured as ProxyFunction configures it with apiStreaming and apiCorsOrigins) ─▶ SageMaker runtime emulator

Another port is another origin, so every call is cross-origin, and each needs a preflight (Authorization is not
a safelisted header). Chromium, not a test's reading of the headers, decides whether the page may read the
answer: the streamed chat chunk by chunk, a buffered one, and a 401. The same page opened as
http://localhost:<page port>, an origin not in the list, gets nothing (fetch fails as a browser's CORS
refusal does). Needs tests/e2e/setup.sh's Chromium and playwright venv; no model engine.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openai_proxy.contract import ENV
from sagemaker_llm_local.chat_ui import default_venv
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.engine.fixtures import skip_or_fail
from tests.fakes import configure_proxy, local_proxy_server

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
VENV = default_venv()
API_KEY = "browser-key-0123456789abcdef0123"
MODEL = "house-model"


@pytest.fixture
def page_origin(tmp_path: Path) -> Iterator[int]:
    """A web app's page on a free 127.0.0.1 port; its port."""
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title><p>an app that calls the API</p>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, page_origin: int) -> Iterator[str]:
    """openai-proxy as deployed with apiStreaming and apiCorsOrigins [the page's 127.0.0.1 origin]; its …/v1."""
    if not (VENV / "bin" / "python").exists() or not Path("/usr/bin/chromium").exists():
        skip_or_fail(f"no Chromium or no playwright venv at {VENV}: run `bash tests/e2e/setup.sh` first")
    with SageMakerRuntime() as runtime:
        configure_proxy(monkeypatch, runtime.url, endpoint="endpoint", served_model_name=MODEL, api_key=API_KEY)
        monkeypatch.setenv(ENV.response_streaming, "true")
        monkeypatch.setenv(ENV.cors_origins, json.dumps([f"http://127.0.0.1:{page_origin}"]))
        with local_proxy_server() as url:
            yield url


def fetch_from(page: str, api: str) -> dict:
    command = [str(VENV / "bin" / "python"), str(HERE / "cross_origin_fetch.py")]
    command += ["--page", page, "--api", api, "--key", API_KEY, "--model", MODEL]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_page_of_the_allowed_origin_reads_streamed_buffered_and_error_answers(api, page_origin):
    calls = fetch_from(f"http://127.0.0.1:{page_origin}/", api)

    streamed = calls["streamed"]
    assert streamed.get("status") == 200, streamed
    events = "".join(streamed["chunks"]).split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""] and len(events) > 3  # chunks of the answer, then [DONE]
    assert streamed["headers"]["x-request-id"]  # exposed: the SDKs show it in their errors
    buffered = calls["buffered"]
    assert buffered.get("status") == 200, buffered
    assert buffered["body"]["object"] == "chat.completion"
    wrong_key = calls["wrong_key"]
    assert wrong_key.get("status") == 401, wrong_key
    assert wrong_key["body"]["error"]["code"] == "invalid_api_key"


def test_a_page_of_another_origin_gets_nothing(api, page_origin):
    calls = fetch_from(f"http://localhost:{page_origin}/", api)

    assert calls["origin"] == f"http://localhost:{page_origin}"
    for name in ("streamed", "buffered", "wrong_key"):
        assert "status" not in calls[name], calls[name]
        assert calls[name]["error"].startswith("TypeError"), calls[name]  # how fetch reports a CORS refusal
