"""The non-streamed answer, assembled from the same stream of deltas (so it too stops at the deadline)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openai_proxy.container_errors import stream_failure_error
from openai_proxy.contract import Dialect
from openai_proxy.deadline import Deadline
from openai_proxy.errors import no_answer_before_deadline
from openai_proxy.generation import GenerationReport, read_generation
from openai_proxy.openai_objects import ResponseMeta, chat_completion, text_completion
from openai_proxy.validation import CompletionRequest


def collect_completion(
    parts: Iterable[bytes],
    request: CompletionRequest,
    meta: ResponseMeta,
    deadline: Deadline,
    *,
    dialect: Dialect,
    report: GenerationReport | None = None,
) -> dict:
    """A complete `chat.completion` or `text_completion`; ApiError if the model failed (container_errors)."""
    report = report if report is not None else GenerationReport()
    texts: list[str] = []
    tool_calls: list[dict] = []
    logprobs: Any = None
    for delta in read_generation(parts, request, dialect, deadline, report):
        texts.append(delta.content)
        if delta.tool_calls:
            merge_tool_calls(tool_calls, delta.tool_calls)
        if delta.logprobs:
            logprobs = merge_logprobs(logprobs, delta.logprobs)
    if report.error is not None:
        raise stream_failure_error(report.error)
    if report.cut_at_deadline and not report.answered:
        raise no_answer_before_deadline()
    text = "".join(texts)
    finish, usage_ = report.final_finish_reason, report.usage(request)
    if request.kind == "text":
        return text_completion(meta, text, finish, usage_, logprobs=logprobs)
    content = text if text or not tool_calls else None
    return chat_completion(meta, content, finish, usage_, tool_calls=tool_calls or None, logprobs=logprobs)


def merge_tool_calls(calls: list[dict], deltas: list) -> None:
    """Fold streamed tool-call deltas (by `index`; `arguments` arrive in pieces) into whole calls."""
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        index = delta.get("index")
        if not isinstance(index, int) or not 0 <= index <= len(calls):
            calls.append({k: v for k, v in delta.items() if k != "index"})  # already whole
            continue
        if index == len(calls):
            calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[index]
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function")
        if isinstance(function, dict):
            target = call.setdefault("function", {"name": "", "arguments": ""})
            if function.get("name"):
                target["name"] = function["name"]
            if isinstance(function.get("arguments"), str):
                target["arguments"] = target.get("arguments", "") + function["arguments"]


def merge_logprobs(merged: Any, piece: Any) -> Any:
    """Concatenate logprobs: chat `{"content": [...]}`, completions `{"tokens": [...], ...}`."""
    if not isinstance(piece, dict):
        return merged
    if not isinstance(merged, dict):
        return {k: list(v) if isinstance(v, list) else v for k, v in piece.items()}
    for key, value in piece.items():
        if isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key].extend(value)
        elif key not in merged:
            merged[key] = value
    return merged
