"""OpenAI response objects: chat.completion, text_completion, their chunks, models. Pure builders."""

from __future__ import annotations

import time
import uuid
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
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}],
        "usage": usage_,
    }


def text_completion(meta: ResponseMeta, text: str, finish_reason: str, usage_: dict, *, logprobs: Any = None) -> dict:
    return {
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}],
        "usage": usage_,
    }


def chat_chunk(
    meta: ResponseMeta,
    delta: dict,
    finish_reason: str | None = None,
    logprobs: Any = None,
    *,
    with_usage: bool = False,
) -> dict:
    chunk = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}],
    }
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
    chunk = {
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}],
    }
    if with_usage:
        chunk["usage"] = None
    return chunk


def usage_chunk(meta: ResponseMeta, kind: str, usage_: dict) -> dict:
    return {
        "id": meta.id,
        "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [],
        "usage": usage_,
    }


def model_object(model_id: str, created: int) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "sagemaker"}


def model_list(model_id: str, created: int) -> dict:
    return {"object": "list", "data": [model_object(model_id, created)]}
