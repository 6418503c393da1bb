"""The OpenAI event stream, produced as the container's parts arrive.

`stream_openai_sse` is the streaming core: it yields SSE byte chunks as soon as each payload part
completes an event. The HTTP API handler joins them into one buffered body; a response-streaming
runtime can write each chunk as it comes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring

from openai_proxy.container_errors import stream_failure_error
from openai_proxy.contract import Dialect
from openai_proxy.deadline import Deadline
from openai_proxy.errors import no_answer_before_deadline
from openai_proxy.generation import GenerationReport, read_generation
from openai_proxy.openai_objects import ResponseMeta, chat_chunk, text_chunk, usage_chunk
from openai_proxy.validation import CompletionRequest

DONE = b"data: [DONE]\n\n"
CONTENT_TYPE = "text/event-stream; charset=utf-8"


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # built once: dumps(**kw) rebuilds it


def sse_event(obj: dict) -> bytes:
    return b"data: " + _encode(obj).encode() + b"\n\n"


def text_chunk_frame(meta: ResponseMeta, chat: bool, with_usage: bool) -> tuple[bytes, bytes] | None:
    """The bytes before and after the text in the event of a chunk that carries text alone.

    Such an event is `head + encode_basestring(text).encode() + tail`, byte for byte what
    `sse_event` makes of the whole chunk: a dict encodes as the concatenation of its parts.
    """
    mark = "\x00"  # encodes as "\u0000"; a meta holding it too gets no frame
    chunk = (
        chat_chunk(meta, {"content": mark}, with_usage=with_usage)
        if chat
        else text_chunk(meta, mark, with_usage=with_usage)
    )
    event, literal = sse_event(chunk), _encode(mark).encode()
    if event.count(literal) != 1:
        return None
    head, _, tail = event.partition(literal)
    return head, tail


def stream_openai_sse(
    parts: Iterable[bytes],
    request: CompletionRequest,
    meta: ResponseMeta,
    deadline: Deadline,
    *,
    dialect: Dialect,
    report: GenerationReport | None = None,
) -> Iterator[bytes]:
    """Yield `data: {...}\\n\\n` chunks exactly as OpenAI streams them, then `data: [DONE]`.

    First the role (chat; with the first delta, so that a tool-call answer starts with content null
    as OpenAI's does), one chunk per delta, a final chunk with finish_reason, a usage chunk when
    `stream_options.include_usage` is set. A failure of the model mid-stream ends the stream
    with an OpenAI error event; the deadline ends it with finish_reason "length". `parts` may be
    any iterable of bytes (see generation.read_generation); pass a `report` to read what happened.
    """
    report = report if report is not None else GenerationReport()
    chat = request.kind == "chat"
    with_usage = request.include_usage  # OpenAI then sends "usage": null in every chunk but the last
    role_due = chat
    frame = text_chunk_frame(meta, chat, with_usage)
    for delta in read_generation(parts, request, dialect, deadline, report):
        if role_due:
            role_due = False
            if delta.tool_calls and not delta.content:
                piece = {"role": "assistant", "content": None, "tool_calls": delta.tool_calls}
                yield sse_event(chat_chunk(meta, piece, logprobs=delta.logprobs, with_usage=with_usage))
                continue
            yield sse_event(chat_chunk(meta, {"role": "assistant", "content": ""}, with_usage=with_usage))
        if frame is not None and delta.logprobs is None and not delta.tool_calls:  # the usual token
            yield frame[0] + encode_basestring(delta.content).encode() + frame[1]
            continue
        if chat:
            piece: dict = {"content": delta.content} if delta.content or not delta.tool_calls else {}
            if delta.tool_calls:
                piece["tool_calls"] = delta.tool_calls
            chunk = chat_chunk(meta, piece, logprobs=delta.logprobs, with_usage=with_usage)
        else:
            chunk = text_chunk(meta, delta.content, logprobs=delta.logprobs, with_usage=with_usage)
        yield sse_event(chunk)
    if role_due:  # an answer without a single delta
        yield sse_event(chat_chunk(meta, {"role": "assistant", "content": ""}, with_usage=with_usage))
    if report.error is not None:
        yield sse_event(stream_failure_error(report.error).body())
        return
    if report.cut_at_deadline and not report.answered:  # an error the SDKs raise, not an empty answer
        yield sse_event(no_answer_before_deadline().body())
        return
    finish = report.final_finish_reason
    if chat:
        yield sse_event(chat_chunk(meta, {}, finish, with_usage=with_usage))
    else:
        yield sse_event(text_chunk(meta, "", finish, with_usage=with_usage))
    if request.include_usage:
        yield sse_event(usage_chunk(meta, request.kind, report.usage(request)))
    yield DONE
