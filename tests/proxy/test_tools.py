"""Tools: forwarded to a container that parses tool calls (TOOL_CALL_PARSER), plain chat otherwise."""

from __future__ import annotations

import json

import pytest

from openai_proxy.handler import handler
from sagemaker_llm_local.container_formats import split_every, vllm_chat_sse
from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import api_event, body_of, chat, sse_events, streamed_text

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
# What OpenWebUI 0.12 sends with every chat message (native function calling is on by default).
OPENWEBUI_TOOLS = [
    {"type": "function", "function": {"name": "get_current_timestamp", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "ask_user", "parameters": {"type": "object"}}},
]


def post(body: dict) -> dict:
    return handler(api_event("POST", "/v1/chat/completions", body))


@pytest.mark.parametrize("choice", [None, "auto", "none"], ids=["absent", "auto", "none"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_without_a_parser_tools_are_answered_as_plain_chat(proxy_env, choice, stream):
    # vLLM without --tool-call-parser refuses `tools` (400 "auto" tool choice requires ...), which
    # broke OpenWebUI's first message; a text answer is what "auto" and "none" allow.
    fields = {"tools": OPENWEBUI_TOOLS, "parallel_tool_calls": True}
    if choice is not None:
        fields["tool_choice"] = choice
    body = chat(stream=stream, **fields)
    if stream:
        body["stream_options"] = {"include_usage": True}

    response = post(body)

    assert response["statusCode"] == 200
    text = streamed_text(sse_events(response)) if stream else body_of(response)["choices"][0]["message"]["content"]
    assert text.startswith(ECHO_GREETING)
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(proxy_env.requests[-1].json)


@pytest.mark.parametrize(
    ("choice", "named"),
    [("required", "'required'"), ({"type": "function", "function": {"name": "get_weather"}}, "'get_weather'")],
    ids=["required", "named"],
)
def test_without_a_parser_a_required_tool_call_is_400_naming_the_config(proxy_env, choice, named):
    response = post(chat(tools=TOOLS, tool_choice=choice))

    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "tool_choice"
    assert "toolCallParser" in error["message"]
    assert named in error["message"]
    assert proxy_env.requests == []


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
def test_text_dialects_answer_tools_with_auto_as_plain_chat_and_refuse_required(proxy_env, monkeypatch, dialect):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    assert post(chat(tools=OPENWEBUI_TOOLS))["statusCode"] == 200
    error = body_of(post(chat(tools=TOOLS, tool_choice="required")))["error"]
    assert error["param"] == "tool_choice"
    assert dialect in error["message"]


def test_with_a_parser_tools_are_forwarded(proxy_env, monkeypatch):
    monkeypatch.setenv("TOOL_CALL_PARSER", "hermes")
    assert post(chat(tools=TOOLS, tool_choice="required", parallel_tool_calls=False))["statusCode"] == 200
    sent = proxy_env.requests[-1].json
    assert (sent["tools"], sent["tool_choice"], sent["parallel_tool_calls"]) == (TOOLS, "required", False)


def test_an_empty_tools_list_is_not_forwarded(proxy_env, monkeypatch):
    # vLLM refuses `tools: []` ("must not be an empty array"); there is nothing to call either way.
    monkeypatch.setenv("TOOL_CALL_PARSER", "hermes")
    assert post(chat(tools=[], tool_choice="auto"))["statusCode"] == 200
    assert not {"tools", "tool_choice"} & set(proxy_env.requests[-1].json)


def test_without_a_parser_tool_turns_from_history_reach_the_chat_template(proxy_env):
    # The parser only reads the model's output; the chat template renders past calls and results.
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert post({"messages": history, "tools": TOOLS})["statusCode"] == 200
    assert proxy_env.requests[-1].json["messages"] == history


CALL_WITHOUT_ID = [
    {"index": 0, "function": {"name": "get_weather", "arguments": ""}},
    {"index": 0, "function": {"arguments": '{"city": "Paris"}'}},
    {"index": 1, "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
]


def test_tool_calls_get_an_id_when_the_container_sends_none(proxy_env, monkeypatch):
    monkeypatch.setenv("TOOL_CALL_PARSER", "pythonic")
    data = vllm_chat_sse([], tool_calls=CALL_WITHOUT_ID, finish_reason="tool_calls")
    proxy_env.script(StreamReply(split_every(data, 11)), StreamReply([data]))

    events = sse_events(post(chat(stream=True, tools=TOOLS)))
    answer = body_of(post(chat(tools=TOOLS)))

    deltas = [e["choices"][0]["delta"]["tool_calls"][0] for e in events[:-1] if e["choices"][0]["delta"]]
    assert [bool(d.get("id", "").startswith("call_")) for d in deltas] == [True, False, True]
    assert deltas[0]["type"] == "function"
    calls = answer["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert all(c["id"].startswith("call_") and len(c["id"]) > len("call_") for c in calls)
    assert calls[0]["id"] != calls[1]["id"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}


def test_a_streamed_tool_call_answer_has_content_null(proxy_env, monkeypatch):
    monkeypatch.setenv("TOOL_CALL_PARSER", "hermes")
    data = vllm_chat_sse([], tool_calls=CALL_WITHOUT_ID[:2], finish_reason="tool_calls")
    proxy_env.script(StreamReply([data]))

    events = [e for e in sse_events(post(chat(stream=True, tools=TOOLS))) if e != "[DONE]"]

    first = events[0]["choices"][0]["delta"]
    assert first["role"] == "assistant"
    assert first["content"] is None
    assert all(e["choices"][0]["delta"].get("content") is None for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def cut_tool_call(arguments: str, completion_tokens: int) -> bytes:
    """vLLM 0.27.1 with a tool parser: a call streamed, then finish_reason "tool_calls" even when the
    answer was cut at max_tokens (chat_completion/serving.py: `if tools_streamed[i] ...: "tool_calls"`)."""
    calls = [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": arguments}},
    ]
    usage = {"prompt_tokens": 20, "completion_tokens": completion_tokens, "total_tokens": 20 + completion_tokens}
    return vllm_chat_sse([], tool_calls=calls, finish_reason="tool_calls", usage=usage)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(
    ("arguments", "completion_tokens", "max_tokens", "finish"),
    [
        ("{", 5, 5, "length"),  # cut at the client's max_tokens
        ('{"city": "Par', 9, None, "length"),  # cut with the room the context left (fewer than the cap)
        ('{"city": "Paris"}', 9, 5000, "tool_calls"),
        ('{"city": "Paris"}', 9, None, "tool_calls"),
    ],
    ids=["max-tokens", "room-left", "complete", "complete-default"],
)
def test_a_tool_call_cut_short_says_length(
    proxy_env, monkeypatch, stream, arguments, completion_tokens, max_tokens, finish
):
    monkeypatch.setenv("TOOL_CALL_PARSER", "hermes")
    proxy_env.script(StreamReply([cut_tool_call(arguments, completion_tokens)]))
    body = chat(stream=stream, tools=TOOLS, **({} if max_tokens is None else {"max_tokens": max_tokens}))

    response = post(body)

    if stream:
        events = sse_events(response)
        said = [e["choices"][0]["finish_reason"] for e in events if e != "[DONE]" and e["choices"]][-1]
        sent = "".join(e["choices"][0]["delta"]["tool_calls"][0]["function"].get("arguments", "") for e in events[:-2])
    else:
        choice = body_of(response)["choices"][0]
        said, sent = choice["finish_reason"], choice["message"]["tool_calls"][0]["function"]["arguments"]
    assert (said, sent) == (finish, arguments)
