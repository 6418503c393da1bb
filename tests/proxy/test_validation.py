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
        ({"messages": USER, "top_p": -0.1}, "top_p"),
        ({"messages": USER, "top_p": 1.01}, "top_p"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"messages": USER, "max_tokens": 1.5}, "max_tokens"),
        ({"messages": USER, "max_tokens": 5.5}, "max_tokens"),
        ({"messages": USER, "max_tokens": True}, "max_tokens"),
        ({"messages": USER, "n": 1.5}, "n"),
        ({"messages": USER, "seed": 7.25}, "seed"),
        ({"messages": USER, "logprobs": True, "top_logprobs": 2.5}, "top_logprobs"),
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
def test_without_max_tokens_the_model_is_sent_the_cap(proxy_env, monkeypatch, stream):
    # The model itself stops at the cap and counts the tokens: the proxy cannot count tokens from
    # deltas (vLLM streams "" for a token that ends inside a UTF-8 character or a stop string).
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "3")

    response = post(chat(stream=stream))

    assert response["statusCode"] == 200
    assert proxy_env.requests[-1].json["max_tokens"] == 3
    if stream:
        events = sse_events(response)
        assert streamed_text(events) == "Hello from the"
        chunks = [e for e in events if isinstance(e, dict) and e["choices"]]
        assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    else:
        choice = body_of(response)["choices"][0]
        assert choice["message"]["content"] == "Hello from the"
        assert choice["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("field", "value", "sent"),
    [("max_tokens", 5.0, 5), ("max_completion_tokens", 7.0, 7), ("seed", 3.0, 3), ("n", 1.0, None)],
)
def test_whole_number_floats_are_accepted_for_integer_fields(proxy_env, field, value, sent):
    assert post(chat(**{field: value}))["statusCode"] == 200
    forwarded = proxy_env.requests[-1].json
    if sent is not None:
        assert forwarded["max_tokens" if field.startswith("max_") else field] == sent
        assert isinstance(forwarded["max_tokens" if field.startswith("max_") else field], int)


def test_top_p_zero_is_accepted_as_the_likeliest_token_only(proxy_env, monkeypatch):
    # OpenAI accepts top_p 0; vLLM refuses it ("top_p must be in (0, 1]"): top_k 1 means the same.
    assert post(chat(top_p=0))["statusCode"] == 200
    sent = proxy_env.requests[-1].json
    assert sent["top_k"] == 1
    assert "top_p" not in sent
    monkeypatch.setenv("BACKEND_DIALECT", "tgi")  # TGI wants 0 < top_p < 1: greedy instead
    assert post(chat(top_p=0, temperature=0.7))["statusCode"] == 200
    parameters = proxy_env.requests[-1].json["parameters"]
    assert parameters["do_sample"] is False
    assert "top_p" not in parameters


@pytest.mark.parametrize("dialect", ["openai", "tgi"])
def test_completions_without_max_tokens_get_16_tokens_as_openai_says(proxy_env, monkeypatch, dialect):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    assert post({"prompt": "Once upon a time"}, "/v1/completions")["statusCode"] == 200
    sent = proxy_env.requests[-1].json
    assert (sent["max_tokens"] if dialect == "openai" else sent["parameters"]["max_new_tokens"]) == 16
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "8")  # the cap still holds
    post({"prompt": "Once upon a time"}, "/v1/completions")
    sent = proxy_env.requests[-1].json
    assert (sent["max_tokens"] if dialect == "openai" else sent["parameters"]["max_new_tokens"]) == 8


def test_unknown_fields_are_ignored_not_forwarded(proxy_env):
    assert post(chat(user="u", metadata={"a": 1}, store=True, service_tier="auto", n=1))["statusCode"] == 200
    sent = proxy_env.requests[-1].json
    assert not {"user", "metadata", "store", "service_tier", "n"} & set(sent)


def test_openai_dialect_forwards_agent_fields_unchanged(proxy_env, monkeypatch):
    monkeypatch.setenv("TOOL_CALL_PARSER", "hermes")
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
        ("tool_choice", "required"),
        ("response_format", {"type": "json_object"}),
        ("logprobs", True),
        ("seed", 3),
        ("presence_penalty", 1),
        ("logit_bias", {"1": 2}),
    ],
)
def test_text_dialects_reject_what_they_cannot_do(proxy_env, monkeypatch, dialect, field, value):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    error = error_of(post(chat(**{field: value}, tools=TOOLS)))
    assert error["param"] == field
    assert dialect in error["message"]
    assert proxy_env.requests == []


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
def test_text_dialects_accept_harmless_defaults(proxy_env, monkeypatch, dialect):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    body = chat(
        tools=TOOLS,
        tool_choice="auto",
        presence_penalty=0,
        frequency_penalty=0.0,
        logprobs=False,
        response_format={"type": "text"},
    )
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
        ({"prompt": "a", "echo": "yes"}, "echo"),
    ],
)
def test_invalid_completion_request_is_400(proxy_env, body, param):
    assert error_of(post(body, "/v1/completions"))["param"] == param
