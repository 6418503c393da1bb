"""`stream_handler`: the answer as a StreamingResponse whose chunks come as the model produces them."""

from __future__ import annotations

import json

import pytest

from openai_proxy import routes
from openai_proxy.config import load_settings
from openai_proxy.contract import STREAMING_DEADLINE_SECONDS, STREAMING_SECONDS
from openai_proxy.handler import Exchange, stream_handler
from openai_proxy.lambda_runtime import StreamingResponse
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.events import api_event, chat, streamed_text


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.aws_request_id = "ctx-req"
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def events_of(data: bytes) -> list:
    return [
        block[6:].decode() if block == b"data: [DONE]" else json.loads(block[6:])
        for block in data.split(b"\n\n")
        if block.startswith(b"data: ")
    ]


def test_a_streamed_chat_is_an_event_stream_yielded_chunk_by_chunk(proxy_env):
    held = StreamReply(one_part_per_line(vllm_chat_sse(["Hello", " there"])), hold_after=2)  # role, "Hello"; wait
    proxy_env.script(held)
    response = stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    assert isinstance(response, StreamingResponse)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"] == "req-1"
    body = iter(response.body)
    role, first = next(body), next(body)
    assert events_of(role)[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events_of(first)[0]["choices"][0]["delta"]["content"] == "Hello"
    assert not held.release.is_set()  # the model has not produced its last token yet
    held.release.set()
    rest = b"".join(body)
    assert streamed_text(events_of(role + first + rest)) == "Hello there"
    assert rest.endswith(b"data: [DONE]\n\n")


def test_an_error_before_the_first_byte_has_its_own_status(proxy_env):
    response = stream_handler(api_event("GET", "/v1/models", key="wrong"))
    assert response.status == 401
    assert response.headers["content-type"] == "application/json"
    assert json.loads(b"".join(response.body))["error"]["code"] == "invalid_api_key"


def test_an_upstream_failure_before_the_first_byte_has_its_own_status(proxy_env):
    proxy_env.script(ErrorReply.model_not_ready())
    response = stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    assert response.status == 503
    assert response.headers["retry-after"] == "10"


def test_a_model_failure_mid_stream_is_an_error_event_then_a_normal_end(proxy_env):
    parts = one_part_per_line(vllm_chat_sse(["partial"]))[:2]
    proxy_env.script(StreamReply(parts, error=("ModelStreamError", "CUDA out of memory")))
    response = stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    events = events_of(b"".join(response.body))  # no exception: the stream ends normally
    assert streamed_text(events) == "partial"
    assert events[-1]["error"]["type"] == "server_error"
    assert "CUDA out of memory" in events[-1]["error"]["message"]


def test_an_unexpected_failure_mid_stream_is_told_in_band_and_logged(proxy_env, monkeypatch, capsys):
    def broken_stream(parts, *args, **kwargs):
        try:
            yield b"data: {}\n\n"
            raise RuntimeError("bug")
        finally:
            b"".join(parts)  # read the model's answer to its end, as the real stream would

    monkeypatch.setattr(routes, "stream_openai_sse", broken_stream)
    response = stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    body = iter(response.body)
    assert next(body) == b"data: {}\n\n"
    with pytest.raises(RuntimeError) as raised:
        next(body)
    in_band = events_of(response.on_error(raised.value))
    assert in_band[0]["error"]["type"] == "server_error"
    assert "req-1" in in_band[0]["error"]["message"]
    assert "bug" not in in_band[0]["error"]["message"]
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["status"] == 200 and log["error_code"] == "server_error"


def test_streaming_mode_takes_the_lambda_s_remaining_time_as_its_deadline(proxy_env, monkeypatch):
    monkeypatch.delenv("REQUEST_DEADLINE_SECONDS")
    monkeypatch.setenv("RESPONSE_STREAMING", "true")
    assert load_settings().deadline_seconds == STREAMING_DEADLINE_SECONDS == 890
    exchange = Exchange(api_event("GET", "/v1/models"), Context(remaining_ms=600_000))
    assert 599 < exchange.deadline.remaining() <= 599.5
    monkeypatch.delenv("RESPONSE_STREAMING")
    exchange = Exchange(api_event("GET", "/v1/models"), Context(remaining_ms=600_000))
    assert exchange.deadline.remaining() <= 28  # buffered: the HTTP API's 30 s still rules


def test_a_stream_ends_ten_seconds_before_the_gateway_and_the_function_stop_it(proxy_env, monkeypatch):
    # Both stop at 900 s, and API Gateway's clock starts first: a cold start's Init phase (up to 10 s) is
    # not the function's time. The last event ([DONE] or an error) must reach the client all the same.
    monkeypatch.delenv("REQUEST_DEADLINE_SECONDS")
    monkeypatch.setenv("RESPONSE_STREAMING", "true")

    exchange = Exchange(api_event("GET", "/v1/models"), Context(remaining_ms=STREAMING_SECONDS * 1000))

    assert STREAMING_SECONDS - exchange.deadline.remaining() >= 10


def test_response_streaming_must_be_a_boolean(proxy_env, monkeypatch):
    monkeypatch.setenv("RESPONSE_STREAMING", "yes please")
    assert any("RESPONSE_STREAMING" in problem for problem in load_settings().problems)
