"""Invoking the endpoint with a response stream, and what its failures mean to an OpenAI client."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

from botocore.eventstream import ParserError as EventStreamParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    EventStreamError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

from openai_proxy import aws
from openai_proxy.container_errors import (
    CONTEXT_LENGTH_EXCEEDED,
    ContainerError,
    container_error,
    read_container_error,
)
from openai_proxy.deadline import Deadline
from openai_proxy.errors import ApiError, DeadlineReached, StreamFailure, no_answer_before_deadline, scrub
from openai_proxy.waking import is_no_capacity, model_waking_up

_THROTTLED = ("ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException")


def open_payload_stream(
    endpoint_name: str, body: dict, deadline: Deadline, inference_component: str = ""
) -> PayloadStream:
    """Start generation; raise ApiError for failures before the first byte (they get a status)."""
    client = aws.sagemaker_runtime(deadline.remaining())
    target = {"InferenceComponentName": inference_component} if inference_component else {}
    try:
        response = client.invoke_endpoint_with_response_stream(
            EndpointName=endpoint_name, Body=json.dumps(body).encode(), ContentType="application/json", **target
        )
    except (ClientError, BotoCoreError) as exc:
        raise api_error_from_aws(exc) from exc
    return PayloadStream(response["Body"], deadline)


class PayloadStream:
    """The `PayloadPart` bytes of a response stream, read no longer than the deadline allows.

    Iterating raises StreamFailure when the model fails mid-stream and DeadlineReached when the
    next part does not arrive in time.
    """

    def __init__(self, events: Any, deadline: Deadline) -> None:
        self._events = events
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        events = iter(self._events)
        sock = _socket_of(getattr(self._events, "_raw_stream", None))
        while True:
            if sock is not None:  # the client's read timeout counts from the last byte, the deadline from the start
                remaining = self._deadline.remaining()
                if remaining <= 0:
                    raise DeadlineReached
                sock.settimeout(remaining)
            try:
                event = next(events)
            except StopIteration:
                return
            except EventStreamError as exc:
                error = exc.response.get("Error", {})
                raise StreamFailure(
                    str(error.get("Message") or "the model stream failed"), "model_stream_error"
                ) from exc
            except (ReadTimeoutError, Urllib3ReadTimeout, TimeoutError) as exc:
                raise DeadlineReached from exc
            except (BotoCoreError, Urllib3Error, OSError) as exc:
                raise StreamFailure("the connection to the model was lost", "model_stream_error") from exc
            except EventStreamParserError as exc:  # a frame with a bad checksum or length (not a BotoCoreError)
                raise StreamFailure("the model's response stream was malformed", "model_stream_error") from exc
            part = event.get("PayloadPart")
            if part:
                yield part.get("Bytes") or b""

    def close(self) -> None:
        self._events.close()


def _socket_of(raw: Any) -> Any:
    """The socket under a urllib3 response: the connection's, or the response's own once
    http.client took it over (a connection that closes after the response)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def api_error_from_aws(exc: Exception) -> ApiError:
    """The status and message an OpenAI client should see for a failed InvokeEndpoint* call."""
    detail = type(exc).__name__
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        detail = log_code(code)  # never the message: a container's may quote the prompt (pydantic's input_value=…)
        if is_no_capacity(code, message):
            return model_waking_up(detail)
        if code == "ValidationError" and "endpoint" in message.lower() and "not found" in message.lower():
            return ApiError(503, "The model endpoint is not deployed.", code="model_not_deployed", detail=detail)
        if code == "ValidationError":
            return ApiError(400, scrub(message) or "The model endpoint rejected the request.", detail=detail)
        if code == "ModelError":
            return _model_error(exc.response, message)
        if code == "ModelNotReadyException":
            return ApiError(
                503,
                "The model is not ready yet (starting or scaling); retry shortly.",
                code="model_not_ready",
                retry_after=10,
                detail=detail,
            )
        if code in ("ServiceUnavailable", "ServiceUnavailableException"):
            return ApiError(
                503,
                "SageMaker is temporarily unavailable; retry shortly.",
                code="service_unavailable",
                retry_after=5,
                detail=detail,
            )
        if code in _THROTTLED:
            return ApiError(
                429,
                "Too many requests to the model; retry shortly.",
                code="rate_limit_exceeded",
                retry_after=2,
                detail=detail,
            )
        if code in ("InternalFailure", "InternalDependencyException", "InternalServerError"):
            return ApiError(502, "SageMaker failed to serve the request.", code="upstream_error", detail=detail)
        return ApiError(500, "The proxy could not invoke the model.", detail=detail)
    if isinstance(exc, ReadTimeoutError):
        return no_answer_before_deadline(detail)
    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError):
        return ApiError(502, "SageMaker could not be reached.", code="upstream_unreachable", detail=detail)
    if isinstance(exc, NoCredentialsError | NoRegionError):
        return ApiError(500, "The proxy has no AWS credentials or region.", detail=detail)
    return ApiError(500, "The proxy could not invoke the model.", detail=detail)


_CONTEXT_SIZE = re.compile(r"maximum context length is (\d+) tokens")
_PROMPT_SIZE = re.compile(r"prompt contains (at least )?(\d+) input tokens")


def prompt_over_context(error: ApiError, what: str) -> ApiError:
    """The error for a request re-sent without max_tokens (so the answer gets the room left) and
    refused again: the prompt (`what`: messages or prompt) alone fills the context. vLLM's own words
    would speak of "0 output tokens" or "max_tokens must be at least 1"."""
    if error.code != CONTEXT_LENGTH_EXCEEDED and "max_tokens must be at least 1" not in error.message:
        return error
    context, prompt = _CONTEXT_SIZE.search(error.message), _PROMPT_SIZE.search(error.message)
    s = "" if what == "messages" else "s"
    if context and prompt:
        size = f"{prompt[1] or ''}{prompt[2]} tokens"
        message = f"This model's maximum context length is {context[1]} tokens, and the {what} alone hold{s} {size}"
    elif context:  # vLLM counted characters, not tokens
        message = f"This model's maximum context length is {context[1]} tokens, and the {what} alone fill{s} it"
    else:
        message = f"The {what} fill{s} this model's whole context"
    return ApiError(
        400,
        f"{message}, leaving no room for an answer. Please shorten the {what}.",
        code=CONTEXT_LENGTH_EXCEEDED,
        param=what,
        detail=error.detail,
    )


def _model_error(response: dict, message: str) -> ApiError:
    """The container answered with an error at once: SageMaker gives its status and body (container_errors).

    The client gets the container's message; the log only its codes (the endpoint's own log group has the rest)."""
    original_status = response.get("OriginalStatusCode")
    error = ContainerError(str(response.get("OriginalMessage") or message))
    with contextlib.suppress(ValueError, TypeError, RecursionError):
        parsed = json.loads(error.message)
        if isinstance(parsed, dict):
            error = read_container_error(parsed)
    status = original_status if isinstance(original_status, int) and not isinstance(original_status, bool) else None
    detail = f"ModelError, original status {status or 'unknown'}"
    if error.param:
        detail += f", param {log_code(error.param)}"
    return container_error(status, error.message, param=error.param, detail=detail)


_CODE = re.compile(r"[A-Za-z0-9_.:\[\]-]{1,64}")


def log_code(text: str) -> str:
    """`text` for the log if it looks like a code or a parameter's name (ModelError, logit_bias), else a
    placeholder: a code comes from AWS or the container, and a log line holds nothing a caller could write."""
    return text if _CODE.fullmatch(text) else "(not a code)"
