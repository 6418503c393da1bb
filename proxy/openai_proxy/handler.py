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
from openai_proxy.cors import answer_headers, is_preflight, preflight_headers
from openai_proxy.deadline import Deadline
from openai_proxy.errors import ApiError
from openai_proxy.http_event import (
    HttpRequest,
    check_json_text,
    http_response,
    json_bytes,
    json_response,
    parse_event,
    raw_header,
    request_id_of,
)
from openai_proxy.logs import log_request
from openai_proxy.routes import Call, Reply, Route, resolve

if TYPE_CHECKING:
    from openai_proxy.generation import GenerationReport
    from openai_proxy.lambda_runtime import StreamingResponse


def handler(event: Any, context: Any = None) -> dict:
    """Answer one request; never raises: every failure becomes an OpenAI-shaped error."""
    exchange = Exchange(event, context)
    reply = exchange.dispatch()
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
    exchange.dispatch()
    return StreamingResponse(
        exchange.reply.status,
        exchange.response_headers(),
        exchange.streamed_body(),
        on_error=lambda exc: exchange.in_band_error(),
    )


class Exchange:
    """One request and its answer. Made from the event (the request id, the settings, the deadline);
    `dispatch()` then routes, authorizes, validates and opens the model's stream, once.

    `reply.body` may still be an iterator of SSE chunks that generates the answer as it is consumed:
    the buffered `handler` joins it; a response-streaming runtime can write each chunk as it comes
    (`body_chunks()`), then call `finish()` to write the request's log line.
    """

    def __init__(self, event: Any, context: Any = None) -> None:
        self.started = time.perf_counter()
        self.event, self.context = event, context
        self.settings = load_settings()
        self.deadline = Deadline.for_request(self.settings.deadline_seconds, context)
        # The request id first: a request refused while its event is read (bad body) still names it.
        self.request = HttpRequest("", "", request_id=request_id_of(event, context))
        self.route: Route | None = None
        self.call: Call | None = None
        self.error: ApiError | None = None
        self.reply = Reply(500, {})  # until dispatched
        self.preflight = False
        self.first_event_ms: float | None = None

    def dispatch(self) -> Reply:
        """Answer the request: its route's reply, or its failure as an OpenAI-shaped error; never raises."""
        try:
            self.reply = self._answer()
        except ApiError as exc:
            self.reply = self._error_reply(exc)
        except Exception as exc:
            self.reply = self._error_reply(self._unexpected(exc))
        return self.reply

    def _answer(self) -> Reply:
        self.request = parse_event(self.event, self.context)
        try:
            self.route, param = resolve(self.request.method, self.request.path)
        except ApiError as refused:  # OPTIONS is no route: at a path it knows, the table says what it serves
            if refused.allow and is_preflight(self.request.method, self.request.headers, self.settings.cors_origins):
                return self._preflight(list(refused.allow))
            raise
        self.call = Call(self.request, self.settings, self.deadline, param)
        if not self.route.public:
            self._admit()
        check_json_text(self.request.body)  # before any route can echo a field of it
        reply = self.route.answer(self.call)
        if not isinstance(reply.body, dict | bytes):  # a stream: time its first event for the log
            reply.body = self._noting_first_event(reply.body)
        return reply

    def _preflight(self, methods: list[str]) -> Reply:
        """A browser asks whether a page of its origin may call `methods` here: no key needed (it sends none)."""
        headers = preflight_headers(self.request.headers, self.settings.cors_origins, methods)
        if headers is None:
            raise ApiError(
                403,
                "A page of this origin may not call the API: it is not one of the API's allowed origins "
                "(apiCorsOrigins).",
                code="cors_origin_not_allowed",
            )
        self.preflight = True
        return Reply(204, b"", headers=headers)

    def _admit(self) -> None:
        """The caller's key, then the proxy's configuration: a stranger learns nothing of the latter."""
        authorize(self.request.headers, self.settings, self.deadline)
        if self.settings.problems:
            raise ApiError(
                503,
                "The proxy is misconfigured: " + "; ".join(self.settings.problems) + ".",
                code="proxy_not_configured",
                detail="; ".join(self.settings.problems),
            )

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def response_headers(self) -> dict[str, str]:
        """The answer's headers: with CORS configured, what lets a page of an allowed origin read it."""
        cors = {} if self.preflight else answer_headers(self._origin(), self.settings.cors_origins)
        return {"content-type": self.reply.content_type, "x-request-id": self.request_id, **cors, **self.reply.headers}

    def _origin(self) -> str:
        # An event refused while it was read (a body too large, say) still names its origin, for its error's CORS.
        return self.request.headers.get("origin") or raw_header(self.event, "origin")

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
            method=_method_for_log(self.request.method),
            route=self.route.pattern if self.route else None,
            status=self.reply.status,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 1),
            dialect=self.settings.dialect.name,
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
        if not (self.route and self.route.generates):
            return {}
        server_error = self.error is not None and self.error.status >= 500
        failed = self.reply.status >= 500 or server_error or bool(report and report.error)
        return {
            "with_metrics": True,
            "endpoint": self.settings.endpoint_name,
            # One of the models the API serves (validation refused any other): a bounded dimension.
            "model": self._model(),
            "errors": int(failed),
            "deadline_cuts": int(bool(report and report.cut_at_deadline)),
            "time_to_first_token_ms": None if failed else self.first_event_ms,
        }

    def _model(self) -> str:
        request = self.call.completion_request if self.call else None
        return request.model if request and request.model else self.settings.served_model_name

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
        body = error.body()
        if error.status >= 500 and error.code is None:  # a failure of ours: the id finds its log line
            body["error"]["message"] = f"{error.message} (request id {self.request_id})"
        return Reply(error.status, body, headers=error.headers)


# RFC 9110's methods and PATCH: any other method is the caller's text, which the log line does not hold.
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def _method_for_log(method: str) -> str | None:
    return (method if method in _HTTP_METHODS else "other") if method else None


__all__ = ["Exchange", "handler", "stream_handler"]
