"""The echo model: what the emulator answers when no container stands behind it.

Any chat is answered "Hello from the fake model! You said: <last user text>" (completions and
text-generation requests likewise), word by word, cut to max_tokens / max_new_tokens, in the
format the request's shape calls for (vLLM's OpenAI SSE, or TGI's / LMI's token stream).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sagemaker_llm_local.container_formats import (
    lmi_token_lines,
    one_part_per_line,
    tgi_token_sse,
    token_usage,
    vllm_chat_sse,
    vllm_completion_sse,
)
from sagemaker_llm_local.replies import ErrorReply, JsonReply, Reply, StreamReply

ECHO_GREETING = "Hello from the fake model!"


def echo_text(body: dict) -> str:
    if isinstance(body.get("messages"), list):
        users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        content = users[-1].get("content") if users else ""
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        return f"{ECHO_GREETING} You said: {content}"
    return f" {ECHO_GREETING}"


def echo_reply(body: Any, *, streaming: bool, text_format: str = "tgi") -> Reply:
    """The default answer: deterministic, word by word, cut to the requested token budget."""
    if not isinstance(body, dict):
        return ErrorReply(424, "ModelError", "bad body", {"OriginalStatusCode": 400, "OriginalMessage": "bad body"})
    tokens = re.findall(r"\s*\S+", echo_text(body))  # "Hello", " from", " the", ...
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    limit = body.get("max_tokens") or parameters.get("max_new_tokens") or len(tokens)
    finish = "stop" if limit >= len(tokens) else "length"
    tokens = tokens[:limit]
    prompt_tokens = len(json.dumps(body.get("messages") or body.get("prompt") or body.get("inputs")).split())
    usage = token_usage(prompt_tokens, len(tokens))
    if "inputs" in body:
        tgi_finish = "eos_token" if finish == "stop" else "length"
        if not streaming:
            details = {"finish_reason": tgi_finish, "generated_tokens": len(tokens)}
            return JsonReply([{"generated_text": "".join(tokens), "details": details}])
        if text_format == "lmi":
            return StreamReply(
                one_part_per_line(lmi_token_lines(tokens, finish_reason=tgi_finish)), "application/jsonlines"
            )
        return StreamReply(one_part_per_line(tgi_token_sse(tokens, finish_reason=tgi_finish)))
    model = body.get("model") or "fake-model"
    if "messages" in body:
        if not streaming:
            message = {"role": "assistant", "content": "".join(tokens)}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return JsonReply(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                }
            )
        return StreamReply(one_part_per_line(vllm_chat_sse(tokens, model=model, finish_reason=finish, usage=usage)))
    if not streaming:
        choice = {"index": 0, "text": "".join(tokens), "logprobs": None, "finish_reason": finish}
        return JsonReply(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": 1,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        )
    return StreamReply(one_part_per_line(vllm_completion_sse(tokens, model=model, finish_reason=finish, usage=usage)))
