"""CORS on the streaming API: a page of an allowed origin (apiCorsOrigins) can call the API from a browser.

Through the real entry points with REST API (payload 1.0) events: `stream_handler`, which the streaming runtime
runs behind the REST API, and `handler`; the runtime loop itself is in tests/streaming/test_cors_through_the_runtime.py,
the local server below, and a real browser in tests/e2e/test_cors_in_browser.py.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from openai_proxy.contract import ENV
from openai_proxy.handler import handler, stream_handler
from tests.proxy.events import MODEL_ID, chat
from tests.proxy.test_payload_v1 import rest_event

APP = "https://chat.example.com"
OTHER = "https://evil.example"
# What Chromium sends before the openai JS SDK's first chat (openai-node src/client.ts buildHeaders,
# src/internal/detect-platform.ts): the non-safelisted request headers, lower-case, sorted.
SDK_HEADERS = (
    "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,"
    "x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"
)


@pytest.fixture
def cors_proxy(proxy_env, monkeypatch):
    """The proxy as ProxyFunction configures it with apiStreaming and apiCorsOrigins [APP, a local dev server]."""
    monkeypatch.delenv(ENV.deadline_seconds)
    monkeypatch.setenv(ENV.response_streaming, "true")
    monkeypatch.setenv(ENV.cors_origins, json.dumps([APP, "http://localhost:5173"]))
    return proxy_env


def from_origin(event: dict, origin: str, **headers: str) -> dict:
    """`event` as a browser on `origin` sends it (REST API events carry headers in both shapes)."""
    for name, value in {"Origin": origin, **headers}.items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


def preflight(path: str, origin: str, method: str = "POST") -> dict:
    event = rest_event("OPTIONS", path, key=None)
    return from_origin(
        event, origin, **{"Access-Control-Request-Method": method, "Access-Control-Request-Headers": SDK_HEADERS}
    )


def answer(event: dict) -> tuple[int, dict[str, str], bytes]:
    response = stream_handler(event)
    return response.status, dict(response.headers), b"".join(response.body)


def cors_of(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.startswith("access-control-")}


def test_a_preflight_from_an_allowed_origin_is_answered_without_the_key(cors_proxy):
    status, headers, body = answer(preflight("/v1/chat/completions", APP))

    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == APP
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == SDK_HEADERS.replace(",", ", ")
    assert headers["access-control-max-age"] == "7200"
    assert headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in headers  # the key travels in Authorization, never a cookie
    assert cors_proxy.requests == []  # the model was not asked


def test_a_preflight_for_a_model_names_the_methods_of_its_path(cors_proxy):
    _, headers, _ = answer(preflight("/v1/models/Qwen/Qwen2.5-1.5B-Instruct", APP, method="GET"))
    assert headers["access-control-allow-methods"] == "GET"


def test_a_preflight_from_another_origin_gets_no_cors_headers_so_the_browser_stops(cors_proxy):
    status, headers, body = answer(preflight("/v1/chat/completions", OTHER))

    assert status == 403
    assert cors_of(headers) == {}
    assert json.loads(body)["error"]["code"] == "cors_origin_not_allowed"


def test_a_preflight_to_an_unknown_path_is_its_404_which_the_page_may_read(cors_proxy):
    status, headers, body = answer(preflight("/v1/embeddings", APP))
    assert status == 404
    assert headers["access-control-allow-origin"] == APP
    assert json.loads(body)["error"]["code"] == "unknown_url"


def test_a_streamed_answer_to_an_allowed_origin_names_it_and_exposes_the_request_id(cors_proxy):
    status, headers, body = answer(from_origin(rest_event("POST", "/v1/chat/completions", chat(stream=True)), APP))

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert body.endswith(b"data: [DONE]\n\n")
    assert headers["access-control-allow-origin"] == APP
    assert set(headers["access-control-expose-headers"].split(", ")) == {"x-request-id", "retry-after"}
    assert headers["vary"] == "Origin"


def test_a_buffered_answer_names_it_too(cors_proxy):
    event = from_origin(rest_event("POST", "/v1/chat/completions", chat()), "http://localhost:5173")
    status, headers, body = answer(event)
    assert status == 200 and json.loads(body)["object"] == "chat.completion"
    assert headers["access-control-allow-origin"] == "http://localhost:5173"


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (rest_event("POST", "/v1/chat/completions", chat(), key="wrong-key"), 401),
        (rest_event("POST", "/v1/chat/completions", chat(model="other-model", stream=True)), 404),
        (rest_event("GET", "/v1/chat/completions"), 405),
        # Refused while the event is read, before the request exists: its origin is still found.
        (rest_event("POST", "/v1/chat/completions", b"x" * (6 * 1024 * 1024 + 1)), 413),
    ],
    ids=["wrong key", "unknown model", "wrong method", "body too large"],
)
def test_an_error_to_an_allowed_origin_names_it_so_the_page_can_read_the_error(cors_proxy, event, status):
    got, headers, body = answer(from_origin(event, APP))
    assert got == status
    assert headers["access-control-allow-origin"] == APP
    assert json.loads(body)["error"]["message"]


def test_the_buffered_handler_answers_cors_the_same_way(cors_proxy):
    allowed = handler(preflight("/v1/models", APP, method="GET"))
    assert (allowed["statusCode"], allowed["headers"]["access-control-allow-origin"]) == (204, APP)
    refused = handler(from_origin(rest_event("GET", "/v1/models", key="wrong-key"), APP))
    assert (refused["statusCode"], refused["headers"]["access-control-allow-origin"]) == (401, APP)


def test_another_origin_s_answer_names_no_origin(cors_proxy):
    # A page of another origin cannot read it; a server (which sends no Origin) is served as before.
    status, headers, _ = answer(from_origin(rest_event("GET", "/v1/models"), OTHER))
    assert status == 200
    assert cors_of(headers) == {}
    assert headers["vary"] == "Origin"
    _, without_origin, _ = answer(rest_event("GET", "/v1/models"))
    assert cors_of(without_origin) == {}


def test_with_any_origin_allowed_every_page_may_call_and_nothing_varies(cors_proxy, monkeypatch):
    monkeypatch.setenv(ENV.cors_origins, '["*"]')
    status, headers, _ = answer(preflight("/v1/chat/completions", OTHER))
    assert (status, headers["access-control-allow-origin"]) == (204, "*")
    assert "authorization" in headers["access-control-allow-headers"]  # `*` alone would not cover Authorization
    _, headers, _ = answer(from_origin(rest_event("GET", "/v1/models"), OTHER))
    assert headers["access-control-allow-origin"] == "*"
    assert "vary" not in headers


def test_without_cors_origins_options_is_a_405_and_no_answer_names_an_origin(proxy_env):
    status, headers, _ = answer(preflight("/v1/chat/completions", APP))
    assert (status, headers["allow"]) == (405, "POST")
    assert cors_of(headers) == {} and "vary" not in headers
    _, headers, _ = answer(from_origin(rest_event("GET", "/v1/models"), APP))
    assert cors_of(headers) == {}


def test_a_preflight_is_logged_without_the_proxy_s_metrics(cors_proxy, capsys):
    capsys.readouterr()
    answer(preflight("/v1/chat/completions", APP))
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert (line["method"], line["status"]) == ("OPTIONS", 204)
    assert "_aws" not in line  # not a chat: no latency or error sample for the dashboards


def test_origins_the_proxy_cannot_read_are_a_problem_health_names(proxy_env, monkeypatch):
    monkeypatch.setenv(ENV.cors_origins, "https://chat.example.com")  # not a JSON array
    status, _, body = answer(rest_event("GET", "/health"))
    assert status == 503
    assert any(ENV.cors_origins in problem for problem in json.loads(body)["problems"])


def _request(base_url: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request(method, f"{url.path}{path}", body, headers)
    response = connection.getresponse()
    return response, response.read()


def test_the_local_server_answers_a_browser_as_the_streaming_api_does(cors_proxy, local_proxy):
    from tests.proxy.events import API_KEY

    response, _ = _request(
        local_proxy,
        "OPTIONS",
        "/chat/completions",
        {"Origin": APP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": SDK_HEADERS},
    )
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == APP

    chat_body = json.dumps({"model": MODEL_ID, "messages": [{"role": "user", "content": "Hi"}], "stream": True})
    headers = {"Origin": APP, "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    response, data = _request(local_proxy, "POST", "/chat/completions", headers, chat_body.encode())
    assert response.status == 200 and response.headers["transfer-encoding"] == "chunked"
    assert response.headers["access-control-allow-origin"] == APP
    assert data.endswith(b"data: [DONE]\n\n")
