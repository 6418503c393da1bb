"""What a model container's error body means to an OpenAI client: its message, parameter and status.

The same body comes two ways: in SageMaker's ModelError (the container answered 4xx/5xx at once), and
as an event inside a stream that has begun: vLLM checks some parameters only then (an out-of-vocabulary
`logit_bias` id: HTTP 200, then `data: {"error": {message, type, param, "code": 400}}`, seen on vLLM 0.27.1).
Either way the container's own status decides: its 4xx is the client's (400, named parameter kept;
429 stays 429), its 5xx is the model's (502). A 4xx must never become a 502: SDKs retry a 502.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from openai_proxy.errors import ApiError, StreamFailure, scrub

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
# How containers say prompt + max_tokens (or the prompt alone) exceeds the context: vLLM's token and
# character checks, its max_tokens > max_model_len check, TGI's two checks.
_OVER_CONTEXT = ("context length", "max_model_len", "`max_new_tokens` must be <=", "`inputs` must have less than")
CLIENT_ERROR_CODE = "model_rejected_request"


@dataclass(frozen=True)
class ContainerError:
    message: str
    param: str | None = None
    status: int | None = None
    """The HTTP status the container gives the error in its body (vLLM's and OpenAI's `code`), if any."""


def read_container_error(body: Any) -> ContainerError:
    """vLLM's `{"error": {message, type, param, code}}` (older: the same fields at the top level with
    `"object": "error"`), TGI's `{"error": "...", "error_type"}`, LMI's `{"error", "code"}`."""
    fields = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
    if not isinstance(fields, dict):
        return ContainerError("the model server reported an error")
    message = fields.get("error") if isinstance(fields.get("error"), str) else fields.get("message")
    param, status = fields.get("param"), fields.get("code")
    if not isinstance(message, str) or not message:
        message = "the model server reported an error"
    return ContainerError(
        first_validation_error(message),
        param if isinstance(param, str) and param else None,
        status if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599 else None,
    )


def container_error(
    status: int | None, message: str, *, param: str | None = None, detail: str | None = None
) -> ApiError:
    """The client's error for a container's error of HTTP `status` (None: unknown, taken as the model's)."""
    text = scrub(message)
    if status == 429:  # the container is overloaded (TGI's full queue): retry, like SageMaker's throttling
        return ApiError(
            429,
            f"The model is overloaded; retry shortly. {text}",
            code="rate_limit_exceeded",
            retry_after=2,
            detail=detail,
        )
    if is_client_error(status):
        text = text or "The model rejected the request."
        code = CONTEXT_LENGTH_EXCEEDED if is_over_context(text) else CLIENT_ERROR_CODE
        return ApiError(400, text, code=code, param=param, detail=detail)
    return ApiError(502, f"The model server failed: {text or 'no message'}", code="model_error", detail=detail)


def stream_failure_error(failure: StreamFailure) -> ApiError:
    """The error for a generation that failed: a client error the container reported in its stream
    keeps its status and parameter; anything else is the model's failure (502)."""
    if is_client_error(failure.status):
        return container_error(failure.status, failure.message, param=failure.param)
    return ApiError(502, f"The model failed while generating: {scrub(failure.message)}", code=failure.code)


def is_client_error(status: int | None) -> bool:
    return status is not None and 400 <= status < 500


def is_over_context(message: str) -> bool:
    lowered = message.lower()
    return any(marker.lower() in lowered for marker in _OVER_CONTEXT)


# pydantic's ValidationError as vLLM passes it on: "7 validation errors for X\nloc\n  msg [type=…]\n    For further…"
_PYDANTIC = re.compile(r"(\d+) validation errors? for ([^\n]+)\n([^\n]+)\n +([^\n]*?)(?: \[type=[^\n]*)?(?:\n|$)")
# FastAPI's rendering of the same: "1 validation error:\n  {'type': …, 'loc': ('body', 'seed'), 'msg': '…', …}"
_FASTAPI = re.compile(r"(\d+) validation errors?:\s*\{.*?'loc': \(([^)]*)\), 'msg': '([^']*)'", re.DOTALL)


def first_validation_error(message: str) -> str:
    """A pydantic dump (every branch of every union, each with a link) cut to its first error, one line."""
    found = _PYDANTIC.search(message)
    if found:
        count, model, where, what = int(found[1]), found[2].strip(), found[3].strip(), found[4].strip()
        more = f" (and {count - 1} more)" if count > 1 else ""
        return f"{message[: found.start()]}Invalid {model}: {where}: {what}{more}"
    found = _FASTAPI.search(message)
    if found:
        count, where = int(found[1]), ".".join(part.strip(" '") for part in found[2].split(",") if part.strip(" '"))
        more = f" (and {count - 1} more)" if count > 1 else ""
        return f"{message[: found.start()]}Invalid request: {where}: {found[3]}{more}"
    return message
