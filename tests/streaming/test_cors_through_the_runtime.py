"""CORS through the streaming runtime loop, as Lambda runs the proxy behind the REST API: the CORS headers are in
the stream's prelude, which API Gateway turns into the answer's headers (response-transfer-mode-lambda.html)."""

from __future__ import annotations

import json

import pytest

from openai_proxy.contract import ENV
from tests.proxy.conftest import fake_runtime, proxy_env, sagemaker  # noqa: F401  (fixtures)
from tests.proxy.events import chat, streamed_text
from tests.proxy.test_cors import APP, OTHER, from_origin, preflight
from tests.proxy.test_payload_v1 import rest_event
from tests.streaming.test_proxy_runtime_end_to_end import split, start_loop


@pytest.fixture
def cors_streaming_proxy(proxy_env, monkeypatch):  # noqa: F811
    """The proxy as ProxyFunction configures it with apiStreaming and apiCorsOrigins [APP]."""
    monkeypatch.delenv(ENV.deadline_seconds)
    monkeypatch.setenv(ENV.response_streaming, "true")
    monkeypatch.setenv(ENV.cors_origins, json.dumps([APP]))
    return proxy_env


def test_the_preflight_the_streamed_chat_and_an_error_each_carry_the_allowed_origin(
    runtime_api, client, cors_streaming_proxy
):
    runtime_api.add_invocation("preflight", preflight("/v1/chat/completions", APP))
    runtime_api.add_invocation("chat", from_origin(rest_event("POST", "/v1/chat/completions", chat(stream=True)), APP))
    wrong_key = rest_event("POST", "/v1/chat/completions", chat(stream=True), key="wrong-key")
    runtime_api.add_invocation("error", from_origin(wrong_key, APP))
    runtime_api.add_invocation("other", preflight("/v1/chat/completions", OTHER))
    loop = start_loop(client, 4)
    responses = {name: runtime_api.wait_for_complete(name) for name in ("preflight", "chat", "error", "other")}
    loop.join(10)

    prelude, _ = split(responses["preflight"].data)
    assert prelude["statusCode"] == 204
    assert prelude["headers"]["access-control-allow-origin"] == APP
    assert prelude["headers"]["access-control-allow-methods"] == "POST"

    prelude, events = split(responses["chat"].data)
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["access-control-allow-origin"] == APP
    assert "x-request-id" in prelude["headers"]["access-control-expose-headers"]
    assert streamed_text(events) and events[-1] == "[DONE]"

    prelude, _ = split(responses["error"].data)
    assert (prelude["statusCode"], prelude["headers"]["access-control-allow-origin"]) == (401, APP)

    prelude, _ = split(responses["other"].data)
    assert prelude["statusCode"] == 403
    assert not [name for name in prelude["headers"] if name.startswith("access-control-")]
