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


class _Refused(Exception):
    """The container refuses the request itself (status, body); SageMaker relays it as a ModelError."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def echo_reply(body: Any, *, streaming: bool, text_format: str = "tgi", endpoint: str = "fake-endpoint") -> Reply:
    """The default answer: deterministic, word by word, cut to the requested token budget."""
    if not isinstance(body, dict):
        return ErrorReply(424, "ModelError", "bad body", {"OriginalStatusCode": 400, "OriginalMessage": "bad body"})
    tokens = re.findall(r"\s*\S+", echo_text(body))  # "Hello", " from", " the", ...
    try:
        limit = _token_limit(body)
    except _Refused as refused:
        return ErrorReply.model_error(refused.status, json.dumps(refused.body), endpoint)
    limit = len(tokens) if limit is None else limit
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


_NOT_AN_INTEGER = object()


def _token_limit(body: dict) -> int | None:
    """The requested token budget (None: not set), or the container's refusal of it."""
    if "inputs" in body:
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        value = parameters.get("max_new_tokens")
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            return value
        # TGI's router answers 0 so (validation.rs, NegativeMaxNewTokens) and a non-u32 with serde's own 422 text:
        # one refusal stands for both here, and for LMI, whose wording is not published.
        raise _Refused(
            422,
            {"error": "Input validation error: `max_new_tokens` must be strictly positive", "error_type": "validation"},
        )
    value = _lax_integer(body.get("max_tokens"))
    if value is _NOT_AN_INTEGER:
        # vLLM 0.27.1's /invocations tries each request type in turn (entrypoints/serve/sagemaker/api_router.py)
        message = (
            "Cannot find suitable handler for request. Expected one of: ['ChatCompletionRequest', 'CompletionRequest']"
        )
        raise _Refused(400, _vllm_error(message, None))
    if value is not None and value < 1:  # vLLM 0.27.1's SamplingParams (sampling_params.py), a VLLMValidationError
        message = f"max_tokens must be at least 1, got {value}. (parameter=max_tokens, value={value})"
        raise _Refused(400, _vllm_error(message, "max_tokens"))
    return value


def _lax_integer(value: Any) -> Any:
    """`value` as pydantic's lax mode reads an int field (True, 5.0 and "5" are integers), or _NOT_AN_INTEGER."""
    if value is None or isinstance(value, int):
        return None if value is None else int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    return _NOT_AN_INTEGER


def _vllm_error(message: str, param: str | None) -> dict:
    return {"error": {"message": message, "type": "BadRequestError", "param": param, "code": 400}}
