"""OpenAI response objects: chat.completion, text_completion, their chunks, models. Pure builders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResponseMeta:
    """What every object (and chunk) of one response shares."""

    id: str
    created: int
    model: str

    @classmethod
    def new(cls, kind: str, model: str) -> ResponseMeta:
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        return cls(f"{prefix}-{uuid.uuid4().hex}", int(time.time()), model)


def new_tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(
    meta: ResponseMeta,
    content: str | None,
    finish_reason: str,
    usage_: dict,
    *,
    tool_calls: list | None = None,
    logprobs: Any = None,
) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    obj = _object(meta, "chat.completion", {"message": message}, _chat_logprobs(logprobs), finish_reason)
    obj["usage"] = usage_
    return obj


def text_completion(meta: ResponseMeta, text: str, finish_reason: str, usage_: dict, *, logprobs: Any = None) -> dict:
    obj = _object(meta, "text_completion", {"text": text}, logprobs, finish_reason)
    obj["usage"] = usage_
    return obj


def chat_chunk(
    meta: ResponseMeta,
    delta: dict,
    finish_reason: str | None = None,
    logprobs: Any = None,
    *,
    with_usage: bool = False,
) -> dict:
    chunk = _object(meta, "chat.completion.chunk", {"delta": delta}, _chat_logprobs(logprobs), finish_reason)
    if with_usage:
        chunk["usage"] = None
    return chunk


def text_chunk(
    meta: ResponseMeta,
    text: str,
    finish_reason: str | None = None,
    logprobs: Any = None,
    *,
    with_usage: bool = False,
) -> dict:
    chunk = _object(meta, "text_completion", {"text": text}, logprobs, finish_reason)
    if with_usage:
        chunk["usage"] = None
    return chunk


def _chat_logprobs(logprobs: Any) -> Any:
    """OpenAI's chat logprobs object has `content` and `refusal`; vLLM sends `content` alone."""
    if isinstance(logprobs, dict) and "refusal" not in logprobs:
        return {**logprobs, "refusal": None}
    return logprobs


def _object(meta: ResponseMeta, kind: str, content: dict, logprobs: Any, finish_reason: str | None) -> dict:
    # Key order as OpenAI sends it: the choice's content, then logprobs, then finish_reason.
    choice = {"index": 0, **content, "logprobs": logprobs, "finish_reason": finish_reason}
    return {"id": meta.id, "object": kind, "created": meta.created, "model": meta.model, "choices": [choice]}


def usage_chunk(meta: ResponseMeta, kind: str, usage_: dict) -> dict:
    return {
        "id": meta.id,
        "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [],
        "usage": usage_,
    }


def model_object(served_model_name: str, created: int) -> dict:
    return {"id": served_model_name, "object": "model", "created": created, "owned_by": "sagemaker"}


def model_list(served_model_names: Sequence[str], created: int) -> dict:
    return {"object": "list", "data": [model_object(name, created) for name in served_model_names]}
