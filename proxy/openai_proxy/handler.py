"""Lambda entry points: `handler` (buffered: HTTP API, payload 2.0) and `stream_handler`
(response streaming through openai_proxy.lambda_runtime: REST API, payload 1.0). Both accept
either payload format."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from openai_proxy.auth import authorize
from openai_proxy.config import load_settings
from openai_proxy.deadline import Deadline
from openai_proxy.errors import ApiError
from openai_proxy.http_event import (
    HttpRequest,
    check_json_text,
    http_response,
    json_bytes,
    json_response,
    parse_event,
    request_id_of,
)
from openai_proxy.logs import log_request
from openai_proxy.routes import PUBLIC, Call, Reply, resolve

if TYPE_CHECKING:
    from openai_proxy.generation import GenerationReport
    from openai_proxy.lambda_runtime import StreamingResponse


def handler(event: Any, context: Any = None) -> dict:
    """Answer one request; never raises: every failure becomes an OpenAI-shaped error."""
    exchange = Exchange(event, context)
    reply = exchange.reply
    # The HTTP API cannot stream: a streamed answer goes back as one text/event-stream body.
    try:
        body = reply.body if isinstance(reply.body, dict | bytes) else b"".join(reply.body)
    except Exception as exc:  # nothing was sent yet: the client gets a proper 500, not the gateway's bare one
        reply = exchange.reply = exchange._error_reply(exchange._unexpected(exc))
        body = reply.body
    headers = exchange.response_headers()
    if isinstance(body, bytes):
        response = http_response(reply.status, body.decode("utf-8", "replace"), reply.content_type, headers)
    else:
        response = json_response(reply.status, body, headers)
    exchange.finish()
    return response


def stream_handler(event: Any, context: Any = None) -> StreamingResponse:
    """Answer one request as a stream: status and headers at once, then each chunk as it is made.

    Failures before the first byte have their own status (as in `handler`); a model failure after it
    is an OpenAI error event at the end of the stream (sse.py); an unexpected exception while
    streaming becomes that same error event in-band (`on_error`) before the runtime ends the stream.
    """
    # Imported here: only the streaming runtime, which has already loaded it, calls this function.
    from openai_proxy.lambda_runtime import StreamingResponse

    exchange = Exchange(event, context)
    return StreamingResponse(
        exchange.reply.status,
        exchange.response_headers(),
        exchange.streamed_body(),
        on_error=lambda exc: exchange.in_band_error(),
    )


class Exchange:
    """One request, dispatched at construction (routing, auth, validation, opening the model's stream).

    `reply.body` may still be an iterator of SSE chunks that generates the answer as it is consumed:
    the buffered `handler` joins it; a response-streaming runtime can write each chunk as it comes
    (`body_chunks()`), then call `finish()` to write the request's log line.
    """

    def __init__(self, event: Any, context: Any = None) -> None:
        self.started = time.perf_counter()
        self.settings = load_settings()
        deadline = Deadline.for_request(self.settings.deadline_seconds, context)
        # The request id first: a request refused while its event is read (bad body) still names it.
        self.request = HttpRequest("", "", request_id=request_id_of(event, context))
        self.route, self.call, self.error = None, None, None
        self.first_event_ms: float | None = None
        try:
            self.request = parse_event(event, context)
            self.route, function, param = resolve(self.request.method, self.request.path)
            self.call = Call(self.request, self.settings, deadline, param)
            if self.route not in PUBLIC:
                authorize(self.request.headers, self.settings, deadline)
                if self.settings.problems:
                    raise ApiError(
                        503,
                        "The proxy is misconfigured: " + "; ".join(self.settings.problems) + ".",
                        code="proxy_not_configured",
                        detail="; ".join(self.settings.problems),
                    )
            check_json_text(self.request.body)  # before any route can echo a field of it
            self.reply = function(self.call)
            if not isinstance(self.reply.body, dict | bytes):  # a stream: time its first event for the log
                self.reply.body = self._noting_first_event(self.reply.body)
        except ApiError as exc:
            self.reply = self._error_reply(exc)
        except Exception as exc:
            self.reply = self._error_reply(self._unexpected(exc))

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def response_headers(self) -> dict[str, str]:
        return {"content-type": self.reply.content_type, "x-request-id": self.request_id, **self.reply.headers}

    def body_chunks(self) -> Iterator[bytes]:
        """The body as bytes chunks: one for a JSON answer, one per SSE event for a stream."""
        body = self.reply.body
        if isinstance(body, dict):
            yield json_bytes(body)
        elif isinstance(body, bytes):
            yield body
        else:
            yield from body

    def streamed_body(self) -> Iterator[bytes]:
        """`body_chunks()` for a streaming writer: an unexpected failure is recorded for the log line
        (and for `in_band_error`), and the log line is written however the stream ends."""
        try:
            yield from self.body_chunks()
        except Exception as exc:
            self.error = ApiError(500, "The proxy failed while streaming the answer.", detail=type(exc).__name__)
            raise
        finally:
            self.finish()

    def in_band_error(self) -> bytes | None:
        """What to write after an unexpected failure mid-stream: an OpenAI error event, for an event stream."""
        error = self.error or ApiError(500, "The proxy failed while streaming the answer.")
        if not self.reply.content_type.startswith("text/event-stream"):
            return None  # a JSON body cut short cannot be repaired; the runtime's error trailers tell
        message = f"{error.message} (request id {self.request_id})"
        body = {"error": {**error.body()["error"], "message": message}}
        return b"data: " + json_bytes(body) + b"\n\n"

    def finish(self) -> None:
        """Write the one log line of this request (counts and timings only); on the generation routes it also
        carries the proxy's CloudWatch metrics (request_metrics.py)."""
        report = self.call.report if self.call else None
        usage = (self.call.usage if self.call else None) or {}
        error = self.error
        log_request(
            request_id=self.request_id,
            method=self.request.method or None,
            route=self.route,
            status=self.reply.status,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 1),
            dialect=self.settings.dialect,
            stream=self.call.stream if self.call else None,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            cut_at_deadline=report.cut_at_deadline if report else None,
            error_code=(error.code or error.type)
            if error
            else (report.error.code if report and report.error else None),
            error_detail=error.detail if error else None,
            **self._metric_fields(report),
        )

    def _metric_fields(self, report: GenerationReport | None) -> dict[str, Any]:
        """What a generation route's line adds for the proxy's CloudWatch metrics; nothing on other routes."""
        if self.route not in GENERATION_ROUTES:
            return {}
        server_error = self.error is not None and self.error.status >= 500
        failed = self.reply.status >= 500 or server_error or bool(report and report.error)
        return {
            "with_metrics": True,
            "endpoint": self.settings.endpoint_name,
            "model": self.settings.model_id,  # the proxy answers for this model only: one dimension value
            "errors": int(failed),
            "deadline_cuts": int(bool(report and report.cut_at_deadline)),
            "time_to_first_token_ms": None if failed else self.first_event_ms,
        }

    def _noting_first_event(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            if self.first_event_ms is None and chunk.startswith(b"data: "):  # not a keep-alive comment
                self.first_event_ms = round((time.perf_counter() - self.started) * 1000, 1)
            yield chunk

    def _unexpected(self, exc: Exception) -> ApiError:
        import traceback  # only on this rare path: it costs ~20 ms at import

        traceback.print_exc(file=sys.stderr)  # for the operator's log; the client sees only the request id
        return ApiError(500, "The proxy failed unexpectedly.", detail=type(exc).__name__)

    def _error_reply(self, error: ApiError) -> Reply:
        self.error = error
        if error.status >= 500 and error.code is None:
            error.message = f"{error.message} (request id {self.request_id})"
        headers = {"retry-after": str(error.retry_after)} if error.retry_after else {}
        if error.status == 405:
            headers["allow"] = ", ".join(allowed_methods(self.request.path))
        return Reply(error.status, error.body(), headers=headers)


def allowed_methods(path: str) -> list[str]:
    """The methods the route table serves at `path`, for a 405's Allow header (RFC 9110, 15.5.6)."""
    allowed = []
    for method in HTTP_METHODS:
        try:
            resolve(method, path)
        except ApiError:
            continue
        allowed.append(method)
    return allowed


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
GENERATION_ROUTES = frozenset({"/v1/chat/completions", "/v1/completions"})  # the routes whose lines carry metrics


__all__ = ["Exchange", "handler", "stream_handler"]
