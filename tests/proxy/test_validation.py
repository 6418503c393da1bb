"""Requests are checked like OpenAI checks them; only what the proxy understands is forwarded."""

from __future__ import annotations

import pytest

from openai_proxy.handler import handler
from tests.proxy.events import MODEL_ID, api_event, body_of, chat, sse_events, streamed_text

USER = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def post(body, path="/v1/chat/completions") -> dict:
    return handler(api_event("POST", path, body))


def error_of(response: dict, status: int = 400) -> dict:
    assert response["statusCode"] == status, response["body"]
    return body_of(response)["error"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL_ID}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
        ({"messages": USER, "temperature": 2.5}, "temperature"),
        ({"messages": USER, "temperature": -0.1}, "temperature"),
        ({"messages": USER, "temperature": "hot"}, "temperature"),
        ({"messages": USER, "top_p": 0}, "top_p"),
        ({"messages": USER, "top_p": 1.01}, "top_p"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "max_tokens": 1.5}, "max_tokens"),
        ({"messages": USER, "max_completion_tokens": -3}, "max_completion_tokens"),
        ({"messages": USER, "n": 2}, "n"),
        ({"messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": USER, "stop": 7}, "stop"),
        ({"messages": USER, "stream": "yes"}, "stream"),
        ({"messages": USER, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": USER, "stream": True, "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
        ({"messages": USER, "model": 42}, "model"),
        (
            {"messages": USER, "tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            "tools[0].function.name",
        ),
        ({"messages": USER, "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": USER, "tool_choice": "required"}, "tool_choice"),
        ({"messages": USER, "response_format": {"type": "xml"}}, "response_format.type"),
        ({"messages": USER, "presence_penalty": 3}, "presence_penalty"),
        ({"messages": USER, "logit_bias": {"abc": 5}}, "logit_bias"),
        ({"messages": USER, "top_logprobs": 3}, "top_logprobs"),
        ({"messages": USER, "seed": "x"}, "seed"),
    ],
)
def test_invalid_chat_request_is_400_naming_the_parameter(proxy_env, body, param):
    error = error_of(post(body))
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert proxy_env.requests == []


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', "", "[" * 100_000])
def test_body_that_is_not_a_json_object_is_400(proxy_env, body):
    assert "JSON" in error_of(post(body))["message"]


def test_unknown_model_is_404_model_not_found(proxy_env):
    error = error_of(post({"model": "gpt-4o", "messages": USER}), 404)
    assert error["code"] == "model_not_found"
    assert "gpt-4o" in error["message"]


def test_max_tokens_is_clamped_to_the_configured_cap(proxy_env, monkeypatch):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "64")
    assert post(chat(max_tokens=100_000))["statusCode"] == 200
    assert proxy_env.requests[-1].json["max_tokens"] == 64
    post(chat(max_completion_tokens=10))
    assert proxy_env.requests[-1].json["max_tokens"] == 10


@pytest.mark.parametrize("stream", [False, True])
def test_without_max_tokens_the_model_gets_the_whole_context_and_the_proxy_applies_the_cap(
    proxy_env, monkeypatch, stream
):
    # A fixed max_tokens would make vLLM refuse a long chat ("maximum context length") although the
    # context still has room; OpenAI and vLLM alone let the answer use what the context leaves.
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "3")

    response = post(chat(stream=stream))

    assert response["statusCode"] == 200
    assert "max_tokens" not in proxy_env.requests[-1].json
    if stream:
        events = sse_events(response)
        assert streamed_text(events) == "Hello from the"
        chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    else:
        choice = body_of(response)["choices"][0]
        assert choice["message"]["content"] == "Hello from the"
        assert choice["finish_reason"] == "length"


def test_unknown_fields_are_ignored_not_forwarded(proxy_env):
    assert post(chat(user="u", metadata={"a": 1}, store=True, service_tier="auto", n=1))["statusCode"] == 200
    sent = proxy_env.requests[-1].json
    assert not {"user", "metadata", "store", "service_tier", "n"} & set(sent)


def test_openai_dialect_forwards_agent_fields_unchanged(proxy_env):
    fields = {
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert post(chat(**fields))["statusCode"] == 200
    sent = proxy_env.requests[-1].json
    assert {k: sent[k] for k in fields} == fields


def test_openai_dialect_forwards_image_parts_and_tool_turns(proxy_env):
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]
    assert post({"messages": messages})["statusCode"] == 200
    assert proxy_env.requests[-1].json["messages"] == messages


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tools", TOOLS),
        ("response_format", {"type": "json_object"}),
        ("logprobs", True),
        ("seed", 3),
        ("presence_penalty", 1),
        ("logit_bias", {"1": 2}),
    ],
)
def test_text_dialects_reject_what_they_cannot_do(proxy_env, monkeypatch, dialect, field, value):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    error = error_of(post(chat(**{field: value})))
    assert error["param"] == field
    assert dialect in error["message"]
    assert proxy_env.requests == []


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
def test_text_dialects_accept_harmless_defaults(proxy_env, monkeypatch, dialect):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    body = chat(tools=[], presence_penalty=0, frequency_penalty=0.0, logprobs=False, response_format={"type": "text"})
    assert post(body)["statusCode"] == 200


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
def test_text_dialects_reject_image_parts_and_tool_turns(proxy_env, monkeypatch, dialect):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    assert error_of(post({"messages": [image]}))["param"] == "messages[0].content[0].type"
    tool = {"role": "tool", "tool_call_id": "c", "content": "x"}
    assert error_of(post({"messages": [*USER, tool]}))["code"] == "unsupported_parameter"


def test_text_parts_are_joined_for_text_dialects(proxy_env, monkeypatch):
    monkeypatch.setenv("BACKEND_DIALECT", "tgi")
    content = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    assert post({"messages": [{"role": "user", "content": content}]})["statusCode"] == 200
    assert "User: first\nsecond\n" in proxy_env.requests[-1].json["inputs"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": "a", "logprobs": 9}, "logprobs"),
        ({"prompt": "a", "max_tokens": -1}, "max_tokens"),
    ],
)
def test_invalid_completion_request_is_400(proxy_env, body, param):
    assert error_of(post(body, "/v1/completions"))["param"] == param
