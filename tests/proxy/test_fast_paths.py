"""The per-token fast paths give exactly what the general paths give, whatever the token's text."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_proxy import sse, stream_reader
from openai_proxy.contract import OPENAI
from openai_proxy.deadline import Deadline
from openai_proxy.openai_objects import ResponseMeta, chat_chunk, text_chunk
from openai_proxy.stream_reader import StreamReader, parse_stream_event
from openai_proxy.validation import CompletionRequest
from sagemaker_llm_local.container_formats import split_at

# Token texts that stress JSON strings: quotes, backslashes, control characters, non-ASCII, lone surrogates.
TEXTS = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12) | st.sampled_from(
    ['"', "\\", '"}, "logprobs": null', "\n", "\u2028", "\x00", "😀", "\ud800", '\\"content\\": "x"']
)
# How containers spell the same chunk: spaced or compact separators, escaped or raw UTF-8.
SPELLINGS = st.sampled_from(
    [
        {},
        {"separators": (",", ":")},
        {"ensure_ascii": False},
        {"ensure_ascii": False, "separators": (",", ":")},
    ]
)


def chat_line(text: str, spelling: dict, **choice) -> bytes:
    chunk = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None, **choice}],
    }
    return b"data: " + json.dumps(chunk, **spelling).encode("utf-8", "surrogatepass")


def completion_line(text: str, spelling: dict) -> bytes:
    event = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [{"text": text}]}
    return json.dumps(event, **spelling).encode("utf-8", "surrogatepass")


def readers(learned_from: bytes) -> tuple[StreamReader, StreamReader]:
    """A reader that learned the template of `learned_from`, and one that reads it the general way."""
    fast, general = StreamReader(), StreamReader()
    general._template_tries = 0
    for reader in (fast, general):
        reader.feed(learned_from + b"\n")
    assert fast._template is not None
    return fast, general


def reading(reader: StreamReader, line: bytes):
    reader.failure = None
    deltas = reader.feed(line + b"\n")
    return deltas, reader.failure and str(reader.failure)


@settings(deadline=None, max_examples=300)
@given(texts=st.lists(TEXTS, min_size=1, max_size=8), spelling=SPELLINGS, chat=st.booleans())
def test_token_lines_read_by_their_template_give_the_general_paths_deltas(texts, spelling, chat):
    line = chat_line if chat else completion_line
    fast, general = readers(line("first", spelling))
    for text in texts:
        assert reading(fast, line(text, spelling)) == reading(general, line(text, spelling))
        assert parse_stream_event(line(text, spelling)).content == text


@settings(deadline=None, max_examples=300)
@given(middle=st.binary(max_size=12) | st.sampled_from([b'"a" "b"', b'"a"}, "x": {"y": "', b'"\\ud800"', b'"\xff"']))
def test_any_bytes_where_the_text_was_give_what_the_general_path_gives(middle):
    fast, general = readers(chat_line("first", {}))
    line = fast._template.prefix + middle + fast._template.suffix
    assert reading(fast, line) == reading(general, line)


@pytest.mark.parametrize(
    "line",
    [
        chat_line("x", {}, finish_reason="stop"),
        chat_line("x", {}, logprobs={"content": []}),
        b'data: {"choices": [{"delta": {"content": "x"}}], "usage": {"completion_tokens": 1}}',
        b'data: {"choices": [{"delta": {"content": "x"}}], "content": "not the text"}',
    ],
)
def test_lines_with_more_than_text_teach_no_template(line):
    reader = StreamReader()
    reader.feed(line + b"\n")
    assert reader._template is None


@settings(deadline=None, max_examples=100)
@given(
    texts=st.lists(TEXTS, max_size=10),
    spelling=SPELLINGS,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
)
def test_a_stream_read_with_templates_equals_one_read_without(monkeypatch_module, texts, spelling, cuts):
    data = b"".join(chat_line(t, spelling) + b"\n\n" for t in ["", *texts]) + b"data: [DONE]\n\n"
    parts = split_at(data, *sorted({c % (len(data) + 1) for c in cuts}))

    def read() -> list:
        reader = StreamReader()
        return [d for part in parts for d in reader.feed(part)] + reader.finish()

    fast = read()
    with monkeypatch_module.context() as patch:
        patch.setattr(stream_reader, "learn_template", lambda line, text_alone: None)
        assert fast == read()


@settings(deadline=None, max_examples=300)
@given(text=TEXTS, chat=st.booleans(), with_usage=st.booleans(), model=st.text(max_size=8))
def test_a_chunk_built_around_its_text_is_the_whole_chunk_encoded(text, chat, with_usage, model):
    meta = ResponseMeta("chatcmpl-1", 1, model)
    frame = sse.text_chunk_frame(meta, chat, with_usage)
    if frame is None:  # a model id that encodes like the frame's mark
        assert "\x00" in model
        return
    whole = (
        chat_chunk(meta, {"content": text}, with_usage=with_usage)
        if chat
        else text_chunk(meta, text, with_usage=with_usage)
    )
    try:
        expected = sse.sse_event(whole)
    except UnicodeEncodeError:  # a lone surrogate cannot be sent either way
        with pytest.raises(UnicodeEncodeError):
            frame[0] + json.encoder.encode_basestring(text).encode() + frame[1]
        return
    built = frame[0] + json.encoder.encode_basestring(text).encode() + frame[1]
    assert built == expected
    assert json.loads(built[len(b"data: ") :]) == whole


@settings(deadline=None, max_examples=100)
@given(texts=st.lists(TEXTS, max_size=10), with_usage=st.booleans())
def test_a_streamed_answer_with_fast_chunks_equals_one_without(monkeypatch_module, texts, with_usage):
    texts = [t for t in texts if not any("\ud800" <= c <= "\udfff" for c in t)]  # unsendable either way
    data = b"".join(chat_line(t, {}) + b"\n\n" for t in ["", *texts]) + b"data: [DONE]\n\n"
    request = CompletionRequest(kind="chat", stream=True, max_tokens=64, include_usage=with_usage)
    meta = ResponseMeta("chatcmpl-1", 1, "m")

    def stream() -> bytes:
        deadline = Deadline(time.monotonic() + 60)
        return b"".join(sse.stream_openai_sse([data], request, meta, deadline, dialect=OPENAI))

    fast = stream()
    with monkeypatch_module.context() as patch:
        patch.setattr(sse, "text_chunk_frame", lambda meta, chat, with_usage: None)
        patch.setattr(stream_reader, "learn_template", lambda line, text_alone: None)
        general = stream()
    assert fast == general
    events = [json.loads(e[len(b"data: ") :]) for e in fast.split(b"\n\n") if e and e != b"data: [DONE]"]
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == "".join(texts)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
