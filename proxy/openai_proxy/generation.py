"""Reading one generation from the container's payload parts, within the request's deadline.

Shared by the streamed (sse.py) and the assembled (assemble.py) answers. The parts are any
iterable of bytes; it may raise StreamFailure (the model failed mid-stream) or DeadlineReached
(the next part would come too late) while iterating.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from openai_proxy.contract import Dialect
from openai_proxy.deadline import Deadline
from openai_proxy.dialects import TURN_STOP, rendered_prompt
from openai_proxy.errors import DeadlineReached, StreamFailure
from openai_proxy.openai_objects import new_tool_call_id, usage
from openai_proxy.stops import StopTrimmer
from openai_proxy.stream_reader import Delta, StreamReader
from openai_proxy.validation import CompletionRequest

CHARS_PER_TOKEN = 4  # for estimating usage when the container reports none
INCOMPLETE_CODE = "model_stream_incomplete"


@dataclass
class GenerationReport:
    """What happened, for the final chunk, the usage and the log line."""

    finish_reason: str | None = None
    container_usage: dict | None = None
    completion_chars: int = 0
    cut_at_deadline: bool = False
    error: StreamFailure | None = None
    answered: bool = False  # a delta with text, tool calls or logprobs was passed on
    tool_calls_seen: set = field(default_factory=set)  # indexes of the tool calls that began
    tool_arguments: dict = field(default_factory=dict)  # index (or position) → the arguments so far

    def name_tool_calls(self, calls: list) -> list:
        """The calls of a delta, each call's first delta with an `id` (and `type`), as OpenAI always sends."""
        named = []
        for position, call in enumerate(calls):
            if isinstance(call, dict):
                index = call.get("index")
                function = call.get("function")
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    key = index if isinstance(index, int) else f"whole-{position}"
                    self.tool_arguments[key] = self.tool_arguments.get(key, "") + function["arguments"]
                if not isinstance(index, int) or index not in self.tool_calls_seen:
                    if isinstance(index, int):
                        self.tool_calls_seen.add(index)
                    if not call.get("id") or not call.get("type"):
                        call = {**call, "id": call.get("id") or new_tool_call_id()}
                        call["type"] = call.get("type") or "function"
            named.append(call)
        return named

    def tool_calls_cut(self, max_tokens: int) -> bool:
        """vLLM says "tool_calls" whenever a call was streamed, even when max_tokens cut its arguments
        short (vllm/entrypoints/openai/chat_completion/serving.py, 0.27.1): the token count tells, or
        arguments that are not JSON (when the answer had the room left rather than max_tokens)."""
        completion = (self.container_usage or {}).get("completion_tokens")
        if isinstance(completion, int) and completion >= max_tokens:
            return True
        return any(arguments and not _is_json(arguments) for arguments in self.tool_arguments.values())

    @property
    def final_finish_reason(self) -> str:
        if self.finish_reason:
            return self.finish_reason
        return "length" if self.cut_at_deadline else "stop"

    def usage(self, request: CompletionRequest) -> dict[str, int]:
        reported = self.container_usage or {}
        prompt = reported.get("prompt_tokens")
        completion = reported.get("completion_tokens")
        if not isinstance(prompt, int) or prompt < 0:
            prompt = math.ceil(request.prompt_chars / CHARS_PER_TOKEN)
        if not isinstance(completion, int) or completion < 0:
            completion = math.ceil(self.completion_chars / CHARS_PER_TOKEN)
        return usage(prompt, completion)


def read_generation(
    parts: Iterable[bytes],
    request: CompletionRequest,
    dialect: Dialect,
    deadline: Deadline,
    report: GenerationReport,
) -> Iterator[Delta]:
    """Yield the answer's deltas until the container finishes, fails, or the deadline passes.

    Never raises for the container's doing: failures and cuts are recorded in `report`. A stream
    that ends without saying it is complete (a finish_reason, `[DONE]`, a whole answer) is a failure.
    """
    shaping = None if dialect.openai else _TextShaping(request)
    reader = StreamReader()
    feed, expired = reader.feed, deadline.expired  # looked up once: this loop runs per token
    try:
        if shaping is not None and request.echo and request.prompt:
            yield Delta(request.prompt)  # the text containers are asked for the answer alone
        for part in parts:
            for delta in feed(part):
                if _observe(delta, report, shaping):
                    yield delta
                if shaping is not None and shaping.stopped:  # a stop the container was not told of
                    report.finish_reason = "stop"
                    return
            if reader.failure:
                raise reader.failure
            if expired() and not report.finish_reason:
                report.cut_at_deadline = True
                return
        for delta in reader.finish():
            if _observe(delta, report, shaping):
                yield delta
        if reader.failure:
            raise reader.failure
        last = Delta()
        if shaping is not None and _observe(last, report, shaping, last=True):
            yield last
        if not report.finish_reason and not reader.complete:
            raise StreamFailure("the model's stream ended before the answer was complete", INCOMPLETE_CODE)
        if report.finish_reason == "tool_calls" and report.tool_calls_cut(request.max_tokens):
            report.finish_reason = "length"  # as OpenAI says of an answer cut at max_tokens
    except DeadlineReached:
        report.cut_at_deadline = not report.finish_reason
    except StreamFailure as failure:
        report.error = failure
    finally:
        close = getattr(parts, "close", None)
        if callable(close):
            close()


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _observe(delta: Delta, report: GenerationReport, shaping: _TextShaping | None, *, last: bool = False) -> bool:
    """Record what the delta tells; True when it adds to the answer."""
    if shaping is not None:
        delta.content = shaping.shape(delta, last=last)
    if delta.finish_reason:
        report.finish_reason = delta.finish_reason
    if delta.usage:
        report.container_usage = {**(report.container_usage or {}), **delta.usage}
    if delta.tool_calls:
        delta.tool_calls = report.name_tool_calls(delta.tool_calls)
    if delta.content or delta.tool_calls or delta.logprobs:
        report.completion_chars += len(delta.content)
        report.answered = True
        return True
    return False


class _TextShaping:
    """Text dialects: drop an echoed prompt, leading blanks after the cue, and stop sequences."""

    __slots__ = ("_prompt", "_started", "_stops")

    def __init__(self, request: CompletionRequest) -> None:
        self._prompt = rendered_prompt(request)
        stops = list(request.stop)
        if request.kind == "chat":
            stops.append(TURN_STOP)
        self._stops = StopTrimmer(stops)
        self._started = request.kind != "chat"

    @property
    def stopped(self) -> bool:
        """A stop sequence was found: the answer is complete, whatever the container streams next."""
        return self._stops.stopped

    def shape(self, delta: Delta, *, last: bool) -> str:
        text = delta.content
        if delta.whole and self._prompt and text.startswith(self._prompt):
            text = text[len(self._prompt) :]
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        text = self._stops.push(text)
        return text + self._stops.finish() if last or delta.whole else text
