"""What serving containers write, byte for byte: vLLM's (the DLC's) OpenAI SSE, LMI's JSON lines, TGI's token SSE.

The emulator's echo model answers in these formats, and tests script SageMaker replies with them
(split into PayloadParts by `split_every`, `split_at` or `one_part_per_line`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def token_usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def openai_chat_chunks(
    tokens: Sequence[str],
    *,
    model: str = "fake-model",
    finish_reason: str = "stop",
    usage: dict | None = None,
    tool_calls: Sequence[dict] = (),
) -> list[dict]:
    """vLLM's chat.completion.chunk objects: role, one per token, tool-call deltas, finish, usage."""
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": t}) for t in tokens]
    chunks += [chunk({"tool_calls": [call]}) for call in tool_calls]
    chunks.append(chunk({"content": ""}, finish_reason))
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def vllm_chat_sse(tokens: Sequence[str], **kwargs: Any) -> bytes:
    """vLLM DLC streaming a chat: `data: {chunk}\\n\\n` … `data: [DONE]\\n\\n`."""
    return b"".join(_sse(c) for c in openai_chat_chunks(tokens, **kwargs)) + b"data: [DONE]\n\n"


def vllm_completion_sse(
    tokens: Sequence[str], *, model: str = "fake-model", finish_reason: str = "stop", usage: dict | None = None
) -> bytes:
    base = {"id": "cmpl-fake", "object": "text_completion", "created": 1, "model": model}
    events = [{**base, "choices": [{"index": 0, "text": t, "logprobs": None, "finish_reason": None}]} for t in tokens]
    events.append({**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": finish_reason}]})
    if usage is not None:
        events.append({**base, "choices": [], "usage": usage})
    return b"".join(_sse(e) for e in events) + b"data: [DONE]\n\n"


def lmi_chat_jsonlines(tokens: Sequence[str], **kwargs: Any) -> bytes:
    """LMI's chat streaming: bare chat.completion.chunk JSON lines, no `data:`, no `[DONE]`."""
    return b"".join(json.dumps(c).encode() + b"\n" for c in openai_chat_chunks(tokens, **kwargs))


def _token_events(tokens: Sequence[str], finish_reason: str, *, lmi: bool) -> list[dict]:
    events = []
    for i, text in enumerate(tokens):
        event: dict[str, Any] = {"token": {"id": 100 + i, "text": text, "logprob" if not lmi else "log_prob": -0.5}}
        if not lmi:
            event["token"]["special"] = False
            event.update(index=i, generated_text=None, details=None)
        events.append(event)
    final = {"finish_reason": finish_reason, "generated_tokens": len(tokens)}
    if events:
        events[-1]["generated_text"] = "".join(tokens)
        events[-1]["details"] = final
    return events


def lmi_token_lines(tokens: Sequence[str], *, finish_reason: str = "eos_token") -> bytes:
    """LMI text streaming: JSON lines `{"token": {...}}`, the last adding generated_text and details."""
    return b"".join(json.dumps(e).encode() + b"\n" for e in _token_events(tokens, finish_reason, lmi=True))


def tgi_token_sse(tokens: Sequence[str], *, finish_reason: str = "eos_token") -> bytes:
    """TGI text streaming: `data:{"token": {...}, "generated_text": null, ...}` events."""
    return b"".join(
        b"data:" + json.dumps(e).encode() + b"\n\n" for e in _token_events(tokens, finish_reason, lmi=False)
    )


# What SageMaker's PayloadParts hold: a container's bytes, cut wherever its reads fall.


def split_every(data: bytes, size: int) -> list[bytes]:
    """Parts of `size` bytes: events cut anywhere, even inside a UTF-8 character."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def split_at(data: bytes, *offsets: int) -> list[bytes]:
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def one_part_per_line(data: bytes) -> list[bytes]:
    """One part per event line (how a well-behaved container tends to flush)."""
    return [line + b"\n" for line in data.split(b"\n") if line]
