"""Container stream bytes → deltas, whatever the format and wherever the part boundaries fall."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_proxy.errors import StreamFailure
from openai_proxy.stops import StopTrimmer
from openai_proxy.stream_reader import StreamReader, parse_stream_event, split_stream_events
from sagemaker_llm_local.container_formats import (
    lmi_chat_jsonlines,
    lmi_token_lines,
    split_at,
    tgi_token_sse,
    vllm_chat_sse,
    vllm_completion_sse,
)

TOKENS = ["Grüße", ",", " 世界", "!"]
FORMATS = {
    "vllm chat SSE": vllm_chat_sse(TOKENS, usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    "vllm completion SSE": vllm_completion_sse(TOKENS),
    "lmi chat JSON lines": lmi_chat_jsonlines(TOKENS),
    "lmi token lines": lmi_token_lines(TOKENS),
    "tgi token SSE": tgi_token_sse(TOKENS),
}


def read(parts: list[bytes]):
    reader = StreamReader()
    deltas = [d for part in parts for d in reader.feed(part)]
    return deltas + reader.finish()


def text_of(deltas) -> str:
    return "".join(d.content for d in deltas)


def test_split_keeps_the_incomplete_rest():
    assert split_stream_events(b'data: {"a":1}\n\ndata: {"b"') == ([b'data: {"a":1}'], b'data: {"b"')
    assert split_stream_events(b"no newline yet") == ([], b"no newline yet")


@pytest.mark.parametrize("name", FORMATS)
def test_every_container_format_gives_the_text_and_finish(name):
    deltas = read([FORMATS[name]])
    assert text_of(deltas) == "Grüße, 世界!"
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]


@pytest.mark.parametrize("name", FORMATS)
def test_any_part_boundary_gives_the_same_deltas(name):
    data = FORMATS[name]
    expected = read([data])
    for cut in range(1, len(data)):
        assert read([data[:cut], data[cut:]]) == expected, cut
    assert read([data[i : i + 1] for i in range(len(data))]) == expected


def test_several_events_in_one_part_and_a_last_line_without_newline():
    data = lmi_token_lines(["a", "b", "c"]).rstrip(b"\n")
    assert text_of(read([data])) == "abc"


def test_usage_and_finish_from_the_container():
    deltas = read([FORMATS["vllm chat SSE"]])
    assert [d.usage for d in deltas if d.usage] == [{"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}]
    tgi = read([tgi_token_sse(["x"], finish_reason="length")])
    assert tgi[-1].finish_reason == "length"
    assert tgi[-1].usage == {"completion_tokens": 1}


def test_special_tokens_are_not_text():
    line = b'data:{"token":{"id":2,"text":"</s>","special":true},"generated_text":"hi","details":null}\n\n'
    assert text_of(read([line])) == ""


@pytest.mark.parametrize(
    "body",
    [
        b'{"generated_text": "whole answer", "details": {"finish_reason": "length"}}',
        b'[{"generated_text": "whole answer"}]',
        b'{\n  "generated_text": "whole answer"\n}',
        b'{"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", '
        b'"content": "whole answer"}, "finish_reason": "stop"}]}',
    ],
)
def test_a_whole_non_streamed_answer_is_understood(body):
    deltas = read([body])
    assert text_of(deltas) == "whole answer"
    assert deltas[0].whole


@pytest.mark.parametrize(
    "line",
    [
        b'data: {"object":"error","message":"prompt too long","type":"BadRequestError","code":400}',
        b'{"error": "Input validation error", "error_type": "validation"}',
        b'data: {"error": {"message": "prompt too long"}}',
        b'{"token": {"text": "x"}, "generated_text": "boom", "details": {"finish_reason": "error"}}',
    ],
)
def test_an_error_inside_the_stream_raises_stream_failure(line):
    with pytest.raises(StreamFailure):
        parse_stream_event(line)


@pytest.mark.parametrize("line", [b"data: [DONE]", b": keep-alive", b"event: ping", b"data: not json", b"42", b"{}"])
def test_lines_without_an_answer_are_skipped(line):
    assert parse_stream_event(line) is None


def test_stop_trimmer_holds_back_a_possible_stop_and_drops_it():
    trimmer = StopTrimmer(["\nUser:"])
    out = [trimmer.push(t) for t in ["Hello", "\n", "Us", "er:", " more"]]
    assert "".join(out) + trimmer.finish() == "Hello"
    assert trimmer.stopped


def test_stop_trimmer_releases_text_that_was_not_a_stop():
    trimmer = StopTrimmer(["\nUser:"])
    out = [trimmer.push(t) for t in ["a", "\n", "Us", "ually"]]
    assert "".join(out) + trimmer.finish() == "a\nUsually"


@settings(deadline=None, max_examples=150)
@given(
    name=st.sampled_from(sorted(FORMATS)),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_arbitrary_part_boundaries_never_change_the_answer(name, cuts):
    data = FORMATS[name]
    parts = split_at(data, *sorted({c % (len(data) + 1) for c in cuts}))
    assert read(parts) == read([data])
