"""Streaming (and assembled) answers read from the real event-stream framing of the fake runtime."""

from __future__ import annotations

import json

import pytest

from openai_proxy.handler import handler
from sagemaker_llm_local.container_formats import (
    lmi_chat_jsonlines,
    lmi_token_lines,
    one_part_per_line,
    split_every,
    tgi_token_sse,
    vllm_chat_sse,
    vllm_completion_sse,
)
from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.event_stream import payload_part_frame
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import api_event, body_of, chat, sse_events, streamed_text

CALL_DELTAS = [
    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
    {"index": 0, "function": {"arguments": '{"city": '}},
    {"index": 0, "function": {"arguments": '"Paris"}'}},
]


def post_chat(stream: bool, **fields) -> dict:
    return handler(api_event("POST", "/v1/chat/completions", chat(stream=stream, **fields)))


@pytest.mark.parametrize(
    ("dialect", "data"),
    [
        ("openai", vllm_chat_sse(["Bonjour", " à", " vous"])),
        ("openai", lmi_chat_jsonlines(["Bonjour", " à", " vous"])),
        ("lmi", lmi_token_lines(["Bonjour", " à", " vous"])),
        ("tgi", tgi_token_sse(["Bonjour", " à", " vous"])),
    ],
    ids=["vllm-sse", "lmi-chat-lines", "lmi-token-lines", "tgi-token-sse"],
)
@pytest.mark.parametrize("part_size", [1, 7, 10_000], ids=["byte-parts", "7-byte-parts", "one-part"])
def test_every_container_format_streams_and_assembles(proxy_env, monkeypatch, dialect, data, part_size):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    proxy_env.script(StreamReply(split_every(data, part_size)), StreamReply(split_every(data, part_size)))

    events = sse_events(post_chat(True))
    answer = body_of(post_chat(False))

    assert streamed_text(events) == "Bonjour à vous"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1] == "[DONE]"
    assert answer["choices"][0]["message"]["content"] == "Bonjour à vous"
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_usage_chunk_when_include_usage_is_set(proxy_env):
    events = sse_events(post_chat(True, stream_options={"include_usage": True}))
    usage_chunk = events[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 9  # "Hello from the fake model! You said: Hi there"
    assert all("usage" in e and e["usage"] is None for e in events[:-2])


def test_no_usage_chunk_unless_asked(proxy_env):
    events = sse_events(post_chat(True))
    assert not any(isinstance(e, dict) and e.get("usage") for e in events)


def test_usage_is_estimated_when_the_container_gives_none(proxy_env):
    proxy_env.script(StreamReply([vllm_chat_sse(["abcd" * 10])]))
    usage = body_of(post_chat(False))["usage"]
    assert usage["completion_tokens"] == 10
    assert usage["prompt_tokens"] > 0


def test_length_finish_reason_comes_from_the_container(proxy_env):
    answer = body_of(post_chat(False, max_tokens=2))
    assert answer["choices"][0]["message"]["content"] == "Hello from"
    assert answer["choices"][0]["finish_reason"] == "length"


def test_tool_call_deltas_pass_through_and_assemble(proxy_env):
    data = vllm_chat_sse([], tool_calls=CALL_DELTAS, finish_reason="tool_calls")
    proxy_env.script(StreamReply(split_every(data, 9)), StreamReply([data]))

    events = sse_events(post_chat(True, tools=[{"type": "function", "function": {"name": "get_weather"}}]))
    answer = body_of(post_chat(False, tools=[{"type": "function", "function": {"name": "get_weather"}}]))

    # As OpenAI streams a tool call: the role comes with the first call delta, content null, not "".
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[0]["choices"][0]["delta"]["content"] is None
    streamed = [e["choices"][0]["delta"]["tool_calls"][0] for e in events[:-2]]
    assert streamed == CALL_DELTAS
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    message = answer["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"


def test_logprobs_pass_back_with_openais_refusal_field(proxy_env):
    chunks = [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "Hi"},
                    "finish_reason": None,
                    "logprobs": {"content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": []}]},
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "!"},
                    "finish_reason": "stop",
                    "logprobs": {"content": [{"token": "!", "logprob": -0.2, "top_logprobs": []}]},
                }
            ]
        },
    ]
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    proxy_env.script(StreamReply([data]), StreamReply([data]))

    events = sse_events(post_chat(True, logprobs=True))
    answer = body_of(post_chat(False, logprobs=True))

    # OpenAI's schema requires `refusal` beside `content`; vLLM sends `content` alone.
    expected = [{**c["choices"][0]["logprobs"], "refusal": None} for c in chunks]
    assert [e["choices"][0]["logprobs"] for e in events[1:3]] == expected
    assert [t["token"] for t in answer["choices"][0]["logprobs"]["content"]] == ["Hi", "!"]
    assert answer["choices"][0]["logprobs"]["refusal"] is None


@pytest.mark.parametrize("failure", ["ModelStreamError", "InternalStreamFailure"])
def test_failure_mid_stream_ends_with_an_openai_error_event(proxy_env, failure):
    parts = split_every(vllm_chat_sse(["Hello", " there", " friend"]), 40)[:3]
    proxy_env.script(StreamReply(parts, error=(failure, "CUDA out of memory on arn:aws:sagemaker:x:123456789012:e")))

    response = post_chat(True)

    assert response["statusCode"] == 200
    events = sse_events(response)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    error = events[-1]["error"]
    assert error["type"] == "server_error"
    assert "CUDA out of memory" in error["message"]
    assert "123456789012" not in error["message"]
    assert "[DONE]" not in events


def test_failure_mid_stream_without_streaming_is_502(proxy_env):
    proxy_env.script(
        StreamReply(
            [b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'], error=("ModelStreamError", "boom")
        )
    )
    response = post_chat(False)
    assert response["statusCode"] == 502
    assert "boom" in body_of(response)["error"]["message"]


def _corrupt_frame() -> bytes:
    frame = bytearray(payload_part_frame(b'data: {"choices":[{"index":0,"delta":{"content":"lost"}}]}\n\n'))
    frame[-1] ^= 0xFF  # the message checksum no longer matches: botocore raises ChecksumMismatch
    return bytes(frame)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
def test_a_corrupt_event_stream_frame_is_a_model_stream_failure_not_a_crash(proxy_env, stream):
    proxy_env.script(StreamReply([vllm_chat_sse(["Hi"])[:150]], raw_tail=_corrupt_frame()))

    response = post_chat(stream)  # raised botocore's ChecksumMismatch out of the handler (a bare 502 from the gateway)

    if stream:
        assert response["statusCode"] == 200
        error = sse_events(response)[-1]["error"]
        assert (error["type"], error["code"]) == ("server_error", "model_stream_error")
    else:
        assert response["statusCode"] == 502
        assert body_of(response)["error"]["code"] == "model_stream_error"


def test_container_error_line_mid_stream_ends_with_an_error_event(proxy_env, monkeypatch):
    monkeypatch.setenv("BACKEND_DIALECT", "lmi")
    data = (
        lmi_token_lines(["Hel"]) + b'{"token": {"text": ""}, "generated_text": "overloaded", '
        b'"details": {"finish_reason": "error"}}\n'
    )
    proxy_env.script(StreamReply([data]))
    events = sse_events(post_chat(True))
    assert streamed_text(events) == "Hel"
    assert "overloaded" in events[-1]["error"]["message"]


@pytest.mark.parametrize("dialect", ["lmi", "tgi"])
def test_text_dialect_chat_drops_the_next_turn_and_leading_blank(proxy_env, monkeypatch, dialect):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    tokens = [" Sure", ",", " here", ".", "\n", "User", ":", " and more"]
    data = lmi_token_lines(tokens) if dialect == "lmi" else tgi_token_sse(tokens)
    proxy_env.script(StreamReply([data]), StreamReply(split_every(data, 3)))

    answer = body_of(post_chat(False))
    events = sse_events(post_chat(True))

    assert answer["choices"][0]["message"]["content"] == "Sure, here."
    assert streamed_text(events) == "Sure, here."


def test_echoed_prompt_is_stripped_from_a_whole_answer(proxy_env, monkeypatch):
    monkeypatch.setenv("BACKEND_DIALECT", "tgi")
    prompt = "User: Hi there\nAssistant:"
    proxy_env.script(StreamReply([json.dumps([{"generated_text": prompt + " Hello!"}]).encode()]))
    assert body_of(post_chat(False))["choices"][0]["message"]["content"] == "Hello!"


@pytest.mark.parametrize("text_format", ["tgi", "lmi"])
def test_text_dialects_talk_to_the_echo_model(proxy_env, monkeypatch, text_format):
    monkeypatch.setenv("BACKEND_DIALECT", text_format)
    proxy_env.text_format = text_format
    answer = body_of(post_chat(False, max_tokens=3))
    assert answer["choices"][0]["message"]["content"] == "Hello from the"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 3
    sent = proxy_env.requests[-1].json
    assert sent["inputs"].endswith("User: Hi there\nAssistant:")
    assert sent["parameters"]["max_new_tokens"] == 3


def test_completions_stream_and_assemble(proxy_env):
    event = api_event(
        "POST", "/v1/completions", {"prompt": "Say hi", "stream": True, "stream_options": {"include_usage": True}}
    )
    events = sse_events(handler(event))
    answer = body_of(handler(api_event("POST", "/v1/completions", {"prompt": "Say hi"})))

    assert all(e["object"] == "text_completion" for e in events[:-1])
    assert streamed_text(events) == f" {ECHO_GREETING}"
    assert events[-3]["choices"][0]["finish_reason"] == "stop"
    assert events[-2]["usage"]["completion_tokens"] == 5
    assert answer["object"] == "text_completion"
    assert answer["id"].startswith("cmpl-")
    assert answer["choices"][0]["text"] == f" {ECHO_GREETING}"
    assert proxy_env.requests[-1].json["prompt"] == "Say hi"


def test_streaming_core_yields_each_event_as_its_part_arrives(proxy_env):
    """What a response-streaming runtime relies on: chunks come while the model is still generating."""
    from openai_proxy.handler import Exchange

    held = StreamReply(one_part_per_line(vllm_chat_sse(["first", " later"])), hold_after=2)  # role, "first"; wait
    proxy_env.script(held)

    exchange = Exchange(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    exchange.dispatch()
    chunks = exchange.body_chunks()
    first, second = next(chunks), next(chunks)

    assert not held.release.is_set()  # the model has not sent its third part yet
    assert json.loads(first[len(b"data: ") :])["choices"][0]["delta"]["role"] == "assistant"
    assert json.loads(second[len(b"data: ") :])["choices"][0]["delta"]["content"] == "first"
    held.release.set()
    rest = b"".join(chunks)
    assert b" later" in rest
    assert rest.endswith(b"data: [DONE]\n\n")
    exchange.finish()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_text_dialect_stop_found_by_the_proxy_ends_the_answer_with_stop(proxy_env, monkeypatch, stream):
    # Four stops of the client's leave no room for the turn stop in TGI's four: only the proxy sees it.
    monkeypatch.setenv("BACKEND_DIALECT", "tgi")
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "3")
    parts = one_part_per_line(tgi_token_sse([" Sure", ".", "\nUser:", " and", " more"], finish_reason="length"))
    reply = StreamReply(parts, hold_after=4)  # the model babbles on (and stalls) after the stop
    proxy_env.script(reply)

    try:
        response = post_chat(stream, stop=["W", "X", "Y", "Z"])
    finally:
        reply.release.set()

    if stream:
        events = sse_events(response)
        assert streamed_text(events) == "Sure."
        assert [e["choices"][0]["finish_reason"] for e in events if isinstance(e, dict)][-1] == "stop"
    else:
        answer = body_of(response)["choices"][0]
        assert (answer["message"]["content"], answer["finish_reason"]) == ("Sure.", "stop")


def _cut(data: bytes, marker: bytes) -> bytes:
    """The container's stream up to (not including) the line holding `marker`: a stream cut short."""
    return data[: data.index(marker)].rsplit(b"\n", 1)[0] + b"\n"


CUT_STREAMS = [
    ("openai", _cut(vllm_chat_sse(["Bon", "jour"]), b'"finish_reason": "stop"')),
    ("openai", _cut(lmi_chat_jsonlines(["Bon", "jour"]), b'"finish_reason": "stop"')),
    ("lmi", _cut(lmi_token_lines(["Bon", "jour"]), b'"generated_text"')),
    ("tgi", _cut(tgi_token_sse(["Bon", "jour"]), b'"generated_text": "Bonjour"')),
    ("openai", b""),
]


@pytest.mark.parametrize(("dialect", "data"), CUT_STREAMS, ids=["vllm-sse", "lmi-chat", "lmi-tokens", "tgi", "empty"])
def test_a_stream_that_ends_unfinished_is_an_error_not_a_stop(proxy_env, monkeypatch, capsys, dialect, data):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    proxy_env.script(StreamReply([data]), StreamReply([data]))

    plain = post_chat(False)
    events = sse_events(post_chat(True))

    assert plain["statusCode"] == 502
    assert body_of(plain)["error"]["code"] == "model_stream_incomplete"
    assert events[-1]["error"]["code"] == "model_stream_incomplete"
    assert "[DONE]" not in events
    assert not any(e["choices"][0]["finish_reason"] for e in events if "choices" in e)
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["error_code"] for line in logged[-2:]] == ["model_stream_incomplete"] * 2


def test_done_without_a_finish_reason_is_complete(proxy_env):
    proxy_env.script(StreamReply([b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n']))
    answer = body_of(post_chat(False))
    assert answer["choices"][0]["message"]["content"] == "Hi"
    assert answer["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("dialect", ["openai", "tgi"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_completions_echo_starts_the_answer_with_the_prompt(proxy_env, monkeypatch, dialect, stream):
    monkeypatch.setenv("BACKEND_DIALECT", dialect)
    if dialect == "openai":  # vLLM echoes the prompt itself, in its first chunk
        proxy_env.script(StreamReply([vllm_completion_sse(["Say hi", " Hello", "!"])]))

    response = handler(api_event("POST", "/v1/completions", {"prompt": "Say hi", "echo": True, "stream": stream}))

    assert response["statusCode"] == 200
    if stream:
        text = "".join(e["choices"][0]["text"] for e in sse_events(response) if e != "[DONE]" and e["choices"])
    else:
        text = body_of(response)["choices"][0]["text"]
    assert text.startswith("Say hi ")
    sent = proxy_env.requests[-1].json
    assert sent.get("echo") is (True if dialect == "openai" else None)
