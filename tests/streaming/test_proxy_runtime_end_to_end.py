"""The real proxy (`stream_handler`) served by the streaming runtime loop, end to end: a fake Lambda
Runtime API hands out REST API events, the fake SageMaker runtime plays the model."""

from __future__ import annotations

import json
import threading
import time

import pytest

from openai_proxy import routes
from openai_proxy.handler import stream_handler
from openai_proxy.lambda_runtime import HTTP_INTEGRATION_CONTENT_TYPE, serve
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.conftest import fake_runtime, proxy_env, sagemaker  # noqa: F401  (fixtures)
from tests.proxy.events import chat, streamed_text
from tests.proxy.test_payload_v1 import rest_event

WORDS = ["One", " two", " three"]


@pytest.fixture
def streaming_proxy(proxy_env, monkeypatch):  # noqa: F811
    """The proxy configured as ProxyFunction configures it with apiStreaming."""
    monkeypatch.delenv("REQUEST_DEADLINE_SECONDS")
    monkeypatch.setenv("RESPONSE_STREAMING", "true")
    return proxy_env


def start_loop(client, invocations: int) -> threading.Thread:
    thread = threading.Thread(
        target=serve, args=(stream_handler, client), kwargs={"max_invocations": invocations}, daemon=True
    )
    thread.start()
    return thread


def split(data: bytes) -> tuple[dict, list]:
    prelude, delimiter, body = data.partition(b"\x00" * 8)
    assert delimiter
    events = [
        block[6:].decode() if block == b"data: [DONE]" else json.loads(block[6:])
        for block in body.split(b"\n\n")
        if block.startswith(b"data: ")
    ]
    return json.loads(prelude), events


def streamed_chat(request_id: str) -> dict:
    event = rest_event("POST", "/v1/chat/completions", chat(stream=True))
    event["requestContext"]["requestId"] = request_id
    return event


def test_the_first_chunk_reaches_lambda_before_the_model_has_finished(runtime_api, client, streaming_proxy):
    held = StreamReply(one_part_per_line(vllm_chat_sse(WORDS)), hold_after=2)  # role, "One"; then waits
    streaming_proxy.script(held)
    runtime_api.add_invocation("inv-1", streamed_chat("req-1"))
    loop = start_loop(client, 1)

    assert runtime_api.wait_for_data("inv-1", b'"content":"One"')
    released_at = time.monotonic()
    assert not held.release.is_set() and not held.sent.is_set()  # the model still holds " two", " three"
    held.release.set()
    response = runtime_api.wait_for_complete("inv-1")
    loop.join(10)

    first_at = next(at for at, chunk in response.chunks if b'"content":"One"' in chunk)
    assert first_at < released_at
    assert response.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert response.headers["Content-Type"] == HTTP_INTEGRATION_CONTENT_TYPE
    prelude, events = split(response.data)
    assert prelude["statusCode"] == 200
    assert prelude["headers"]["content-type"].startswith("text/event-stream")
    assert prelude["headers"]["x-request-id"] == "req-1"
    assert streamed_text(events) == "One two three"
    assert events[-1] == "[DONE]"
    assert response.trailers == {}


def test_a_model_failure_mid_stream_is_an_error_event_and_a_normal_end(runtime_api, client, streaming_proxy):
    parts = one_part_per_line(vllm_chat_sse(["partial"]))[:2]
    streaming_proxy.script(StreamReply(parts, error=("ModelStreamError", "CUDA out of memory")))
    runtime_api.add_invocation("inv-1", streamed_chat("req-1"))
    start_loop(client, 1).join(10)

    response = runtime_api.wait_for_complete("inv-1")
    _, events = split(response.data)
    assert streamed_text(events) == "partial"
    assert events[-1]["error"]["type"] == "server_error"
    assert "CUDA out of memory" in events[-1]["error"]["message"]
    assert response.trailers == {}


def test_an_unexpected_failure_mid_stream_ends_with_an_error_event_and_the_error_trailers(
    runtime_api, client, streaming_proxy, monkeypatch
):
    def broken_stream(parts, *args, **kwargs):
        try:
            yield b'data: {"choices": []}\n\n'
            raise RuntimeError("bug")
        finally:
            b"".join(parts)

    monkeypatch.setattr(routes, "stream_openai_sse", broken_stream)
    runtime_api.add_invocation("inv-1", streamed_chat("req-1"))
    start_loop(client, 1).join(10)

    response = runtime_api.wait_for_complete("inv-1")
    prelude, events = split(response.data)
    assert prelude["statusCode"] == 200
    assert events[-1]["error"]["type"] == "server_error"
    assert "req-1" in events[-1]["error"]["message"]
    assert response.trailers["Lambda-Runtime-Function-Error-Type"] == "RuntimeError"


def test_an_error_before_the_first_byte_is_a_real_status(runtime_api, client, streaming_proxy):
    event = rest_event("POST", "/v1/chat/completions", chat(stream=True), key="wrong-key")
    runtime_api.add_invocation("inv-1", event)
    start_loop(client, 1).join(10)

    prelude, _ = split(runtime_api.wait_for_complete("inv-1").data)
    body = runtime_api.responses["inv-1"].data.partition(b"\x00" * 8)[2]
    assert prelude["statusCode"] == 401
    assert prelude["headers"]["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "invalid_api_key"


def test_the_loop_serves_a_second_invocation(runtime_api, client, streaming_proxy):
    runtime_api.add_invocation("inv-1", streamed_chat("req-1"))
    runtime_api.add_invocation("inv-2", rest_event("GET", "/v1/models"))
    loop = start_loop(client, 2)
    first = runtime_api.wait_for_complete("inv-1")
    second = runtime_api.wait_for_complete("inv-2")
    loop.join(10)
    assert not loop.is_alive()

    assert "You said: Hi there" in streamed_text(split(first.data)[1])
    prelude, body = second.data.split(b"\x00" * 8, 1)
    assert json.loads(prelude)["statusCode"] == 200
    assert json.loads(body)["object"] == "list"
