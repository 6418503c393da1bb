"""Chat completions through the handler, with the fake runtime as the model."""

from __future__ import annotations

import json

import pytest

from openai_proxy.handler import handler
from sagemaker_llm_local.container_formats import split_every, vllm_chat_sse
from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import MODEL_ID, api_event, body_of, chat, sse_events, streamed_text


def test_chat_answer_is_a_complete_openai_object(proxy_env):
    response = handler(api_event("POST", "/v1/chat/completions", chat("Ping")))

    assert response["statusCode"] == 200
    answer = body_of(response)
    assert answer["object"] == "chat.completion"
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == MODEL_ID
    choice = answer["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == f"{ECHO_GREETING} You said: Ping"
    assert choice["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] == 8
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + 8


def test_streamed_chat_is_buffered_as_openai_event_stream(proxy_env):
    response = handler(api_event("POST", "/v1/chat/completions", chat("Ping", stream=True)))

    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(e["object"] == "chat.completion.chunk" for e in events[:-1])
    assert streamed_text(events) == f"{ECHO_GREETING} You said: Ping"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1] == "[DONE]"


def test_stream_event_split_across_parts_is_reassembled(proxy_env):
    proxy_env.script(StreamReply(split_every(vllm_chat_sse(["Grüße", " aus", " 東京"]), 5)))

    events = sse_events(handler(api_event("POST", "/v1/chat/completions", chat(stream=True))))

    assert streamed_text(events) == "Grüße aus 東京"


def test_request_reaches_the_container_with_served_model_name_and_stream(proxy_env):
    handler(api_event("POST", "/v1/chat/completions", chat(max_tokens=50, temperature=0.2, user="u1")))

    sent = proxy_env.requests[-1]
    assert sent.endpoint == "fake-endpoint"
    assert sent.streaming
    assert sent.json["model"] == MODEL_ID
    assert sent.json["stream"] is True
    assert sent.json["max_tokens"] == 50
    assert sent.json["temperature"] == 0.2
    assert "user" not in sent.json


@pytest.mark.parametrize("model", [None, ""])
def test_absent_or_empty_model_means_the_one_model(proxy_env, model):
    body = chat()
    body["model"] = model
    response = handler(api_event("POST", "/v1/chat/completions", body))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["model"] == MODEL_ID
