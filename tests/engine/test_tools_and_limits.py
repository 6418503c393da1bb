"""What the real engine refuses, and what the proxy must do about it (issue 9, fixes a and b).

The dev stack's set-up: no tool-call parser (vLLM refuses any `tools` with `tool_choice` auto), a
base model whose context is 1024 tokens, `maxOutputTokens` as a hard cap.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest

from tests.engine.conftest import sse_events, streamed_text
from tests.engine.fixtures import API_KEY, MAX_MODEL_LEN, MODEL_ID

pytestmark = pytest.mark.engine

# What OpenWebUI 0.12.4 sent for "What is the capital of France?" (its built-in tools, stream, no
# tool_choice), captured from `open-webui serve` at the pinned version with the e2e environment.
OPENWEBUI_CHAT = json.loads((Path(__file__).parent / "openwebui_chat_request.json").read_text())
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def post(base_url: str, path: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(
        base_url + path,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def tokens_in(engine, messages: list[dict]) -> int:
    """The prompt's length in tokens, as vLLM counts it with the chat template."""
    status, body = post(engine.url, "/tokenize", {"model": MODEL_ID, "messages": messages})
    assert status == 200, body
    return json.loads(body)["count"]


def chat_of_length(engine, tokens: int) -> list[dict]:
    """A one-message chat whose prompt is exactly `tokens` long (each repeated word is one token)."""
    overhead = tokens_in(engine, [{"role": "user", "content": "paris"}]) - 1
    messages = [{"role": "user", "content": " ".join(["paris"] * (tokens - overhead))}]
    assert tokens_in(engine, messages) == tokens
    return messages


@pytest.mark.parametrize("include_usage", [False, True], ids=["as-captured", "with-include-usage"])
def test_openwebuis_first_message_with_its_builtin_tools_is_answered_as_plain_chat(engine_api, relay, include_usage):
    body = {**OPENWEBUI_CHAT, "model": MODEL_ID}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    assert "tool_choice" not in body and any(t["function"]["name"] == "get_current_timestamp" for t in body["tools"])

    status, raw = post(engine_api, "/chat/completions", body)

    events = sse_events(raw)
    assert status == 200, raw
    assert not [e for e in events if isinstance(e, dict) and "error" in e], raw
    assert streamed_text(events).strip()
    assert [e["choices"][0]["finish_reason"] for e in events if isinstance(e, dict) and e["choices"]][-1]
    assert events[-1] == "[DONE]"
    assert "tools" not in relay.requests[-1].json  # vLLM without a parser refuses any tools
    if include_usage:
        assert events[-2]["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_current_timestamp"}}]
)
def test_a_tool_call_the_engine_cannot_parse_is_refused_naming_the_setting(engine_client, relay, tool_choice):
    with pytest.raises(openai.BadRequestError) as refused:
        engine_client.chat.completions.create(
            model=MODEL_ID,
            messages=[{"role": "user", "content": "What time is it?"}],
            tools=OPENWEBUI_CHAT["tools"][:2],
            tool_choice=tool_choice,
        )

    assert refused.value.status_code == 400
    assert refused.value.type == "invalid_request_error"
    assert "toolCallParser" in refused.value.message
    assert relay.requests == []


@pytest.mark.parametrize("max_tokens", [None, 5, 100], ids=["absent", "under", "over"])
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_max_output_tokens_is_a_hard_cap_by_the_engines_own_count(engine_client, monkeypatch, max_tokens, stream):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "8")
    extra = {} if max_tokens is None else {"max_tokens": max_tokens}

    if stream:
        chunks = list(
            engine_client.chat.completions.create(
                model=MODEL_ID, messages=QUESTION, stream=True, stream_options={"include_usage": True}, **extra
            )
        )
        usage = chunks[-1].usage
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    else:
        answer = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, **extra)
        usage, finish = answer.usage, [answer.choices[0].finish_reason]

    assert usage.completion_tokens <= min(8, max_tokens or 8)
    assert finish == ["length"] or usage.completion_tokens < min(8, max_tokens or 8)


def test_a_chat_that_nearly_fills_the_context_is_answered_in_the_room_left(engine_client, vllm_engine, monkeypatch):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "256")  # the dev stack's maxOutputTokens
    messages = chat_of_length(vllm_engine, MAX_MODEL_LEN - 20)

    answer = engine_client.chat.completions.create(model=MODEL_ID, messages=messages)

    assert answer.usage.prompt_tokens == MAX_MODEL_LEN - 20
    assert 0 < answer.usage.completion_tokens <= 20
    assert answer.choices[0].finish_reason == "length"


def test_a_streamed_chat_that_nearly_fills_the_context_is_answered_in_the_room_left(
    engine_client, vllm_engine, monkeypatch
):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "256")
    messages = chat_of_length(vllm_engine, MAX_MODEL_LEN - 20)

    chunks = list(
        engine_client.chat.completions.create(
            model=MODEL_ID, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert 0 < chunks[-1].usage.completion_tokens <= 20


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_prompt_longer_than_the_context_is_refused_as_too_long(engine_client, vllm_engine, stream):
    messages = chat_of_length(vllm_engine, MAX_MODEL_LEN + 50)

    with pytest.raises(openai.BadRequestError) as refused:
        engine_client.chat.completions.create(model=MODEL_ID, messages=messages, max_tokens=10, stream=stream)

    assert refused.value.status_code == 400
    assert refused.value.code == "context_length_exceeded"
    assert "1024" in refused.value.message  # vLLM's own explanation reaches the user
