"""Container stream bytes → deltas. Pure: bytes in, objects out.

Understands every container format (sagemaker_llm_local/container_formats.py writes each): vLLM SSE
(`data: {chunk}` … `data: [DONE]`), LMI JSON lines of chat chunks (no `data:`, no `[DONE]`), LMI/TGI
token lines (`{"token": {...}}`, with or without `data:`), and a whole non-streamed answer
(`chat.completion`, `{"generated_text"}`, `[{...}]`).
PayloadPart boundaries fall anywhere: bytes are buffered and only complete lines are parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from openai_proxy.container_errors import read_container_error
from openai_proxy.errors import StreamFailure
from openai_proxy.event_template import EventTemplate, learn_template

_FINISH_REASONS = {"eos_token": "stop", "stop_sequence": "stop", "stop": "stop", "length": "length"}
_SSE_FIELDS = (b"event:", b"id:", b"retry:", b":")
_scan_json = json.JSONDecoder().scan_once  # json.loads less its per-call Python layers


@dataclass(slots=True)
class Delta:
    """What one container event adds to the answer."""

    content: str = ""
    tool_calls: list | None = None
    logprobs: Any = None
    finish_reason: str | None = None
    usage: dict | None = None
    whole: bool = False  # a complete non-streamed answer (its text may echo the prompt)


def split_stream_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split buffered bytes into complete non-blank lines and the incomplete rest."""
    if b"\n" not in buffer:
        return [], buffer
    *lines, rest = buffer.split(b"\n")
    return [line for line in lines if line.strip()], rest


def parse_stream_event(line: bytes) -> Delta | None:
    """One complete line → a Delta, or None for what carries no answer ([DONE], SSE fields, noise).

    Raises StreamFailure for an error the container reports inside its stream.
    """
    line = line.strip()
    if line.startswith(b"data:"):
        line = line[5:].strip()
    elif line.startswith(_SSE_FIELDS):
        return None
    if not line or line == b"[DONE]":
        return None
    try:
        event = _loads(line)
    except (ValueError, RecursionError):
        return None
    return parse_container_object(event)


def _loads(line: bytes) -> Any:
    """json.loads(line), scanning an ordinary UTF-8 object directly; anything else goes to json.loads."""
    if line.startswith(b'{"'):  # json.loads would detect UTF-8 too
        text = line.decode("utf-8", "surrogatepass")
        try:
            event, end = _scan_json(text, 0)
        except StopIteration:
            return json.loads(line)  # raises as json.loads does
        if end == len(text):
            return event
    return json.loads(line)


def parse_container_object(event: Any) -> Delta | None:
    if isinstance(event, list):  # TGI's non-streamed [{"generated_text": ...}]
        event = event[0] if event else None
    if not isinstance(event, dict):
        return None
    if "choices" in event:
        return _openai_delta(event)
    if "token" in event or "generated_text" in event:
        return _text_generation_delta(event)
    if "error" in event or event.get("object") == "error":
        error = read_container_error(event)
        raise StreamFailure(error.message, status=error.status, param=error.param)
    return None


class StreamReader:
    """Feed it payload parts as they arrive; it returns the deltas each part completes."""

    def __init__(self) -> None:
        self.failure: StreamFailure | None = None  # an error event, raised after the deltas before it
        self.complete = False  # `[DONE]` or a whole answer arrived (a finish_reason says so too)
        self._pending: list[bytes] = []
        self._raw: list[bytes] | None = []  # everything, until the first delta (for pretty-printed JSON)
        self._template: EventTemplate | None = None  # vLLM's token lines differ only in their text
        self._template_tries = 2  # each costs two parses; a stream whose lines all differ stops trying

    def feed(self, part: bytes) -> list[Delta]:
        if self._raw is not None:
            self._raw.append(part)
        if not self._pending and part.endswith(b"\n"):  # the usual part: whole lines
            return self._parse(part.split(b"\n"))
        if b"\n" not in part:
            self._pending.append(part)
            return []
        if self._pending:
            self._pending.append(part)
            part = b"".join(self._pending)
        lines, rest = split_stream_events(part)
        self._pending = [rest] if rest else []
        return self._parse(lines)

    def finish(self) -> list[Delta]:
        """The deltas of a last line without a newline; or a whole answer that spanned lines."""
        rest = b"".join(self._pending)
        self._pending = []
        deltas = self._parse([rest]) if rest.strip() else []
        if not deltas and self._raw and self.failure is None:
            try:
                delta = parse_container_object(json.loads(b"".join(self._raw)))
            except (ValueError, RecursionError):
                delta = None
            deltas = [delta] if delta is not None else []
        self.complete = self.complete or any(delta.whole for delta in deltas)
        return deltas

    def _parse(self, lines: list[bytes]) -> list[Delta]:
        deltas = []
        template = self._template
        for line in lines:
            if not line:
                continue
            if template is not None:
                text = template.text_of(line)
                if text is not None:
                    deltas.append(Delta(text))
                    continue
            try:
                delta = parse_stream_event(line)
            except StreamFailure as failure:
                self.failure = failure
                break
            if delta is None:
                self.complete = self.complete or line.rstrip().endswith(b"[DONE]")
            else:
                deltas.append(delta)
                if template is None and self._template_tries and delta.content and delta == Delta(delta.content):
                    self._template_tries -= 1
                    template = self._template = learn_template(line, _text_alone)
        if deltas:
            self._raw = None
        return deltas


def _text_alone(line: bytes) -> str | None:
    """The text of a line that carries text and nothing else, as the general path reads it."""
    try:
        delta = parse_stream_event(line)
    except StreamFailure:
        return None
    return delta.content if delta is not None and delta == Delta(delta.content) else None


def _openai_delta(event: dict) -> Delta | None:
    usage = event.get("usage") if isinstance(event.get("usage"), dict) else None
    choices = event.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict):
        return Delta(usage=usage) if usage else None
    whole = "message" in choice and "delta" not in choice
    delta = choice.get("message") if whole else choice.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    content = delta.get("content")
    if content is None:
        content = choice.get("text")  # text_completion chunks
    tool_calls = delta.get("tool_calls")
    finish = choice.get("finish_reason")
    return Delta(
        content=content if isinstance(content, str) else "",
        tool_calls=tool_calls if isinstance(tool_calls, list) and tool_calls else None,
        logprobs=choice.get("logprobs") or None,
        finish_reason=finish if isinstance(finish, str) else None,
        usage=usage,
        whole=whole,
    )


def _text_generation_delta(event: dict) -> Delta:
    details = event.get("details") if isinstance(event.get("details"), dict) else {}
    finish = details.get("finish_reason") or event.get("finish_reason")
    if finish == "error":  # LMI: an error after streaming started
        text = event.get("generated_text")
        raise StreamFailure(text if isinstance(text, str) and text else "the model failed while generating")
    token = event.get("token")
    if isinstance(token, dict):
        text = "" if token.get("special") else token.get("text")
        whole = False
    else:
        text = event.get("generated_text")
        whole = True
    if finish is None and isinstance(event.get("generated_text"), str):
        finish = "stop"  # the last event (or a whole answer) without details: complete all the same
    generated = details.get("generated_tokens")
    usage = {"completion_tokens": generated} if isinstance(generated, int) and generated >= 0 else None
    return Delta(
        content=text if isinstance(text, str) else "",
        finish_reason=_FINISH_REASONS.get(finish, "stop") if isinstance(finish, str) else None,
        usage=usage,
        whole=whole,
    )
