"""Lambda entry point: `openai_proxy.handler.handler`, for API Gateway HTTP API payload-2.0 events."""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

from openai_proxy.auth import authorize
from openai_proxy.config import load_settings
from openai_proxy.deadline import Deadline
from openai_proxy.errors import ApiError
from openai_proxy.http_event import HttpRequest, http_response, json_response, parse_event
from openai_proxy.logs import log_request
from openai_proxy.routes import PUBLIC, Call, Reply, resolve


def handler(event: Any, context: Any = None) -> dict:
    """Answer one request; never raises: every failure becomes an OpenAI-shaped error."""
    started = time.perf_counter()
    settings = load_settings()
    deadline = Deadline.for_request(settings.deadline_seconds, context)
    request, route, call, error = HttpRequest("", ""), None, None, None
    try:
        request = parse_event(event, context)
        route, function, param = resolve(request.method, request.path)
        call = Call(request, settings, deadline, param)
        if route not in PUBLIC:
            authorize(request.headers, settings)
            if settings.problems:
                raise ApiError(
                    503,
                    "The proxy is misconfigured: " + "; ".join(settings.problems) + ".",
                    code="proxy_not_configured",
                )
        reply = function(call)
    except ApiError as exc:
        error = exc
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)  # for the operator's log; the client sees only the request id
        error = ApiError(500, "The proxy failed unexpectedly.", detail=type(exc).__name__)
    if error is not None:
        reply = _error_reply(error, request.request_id)
    response = _response(reply, request.request_id)
    report = call.report if call else None
    usage = (call.usage if call else None) or {}
    log_request(
        request_id=request.request_id,
        method=request.method or None,
        route=route,
        status=reply.status,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        dialect=settings.dialect,
        stream=call.stream if call else None,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        cut_at_deadline=report.cut_at_deadline if report else None,
        error_code=error.code or error.type if error else (report.error.code if report and report.error else None),
        error_detail=error.detail if error else None,
    )
    return response


def _error_reply(error: ApiError, request_id: str) -> Reply:
    if error.status >= 500 and error.code is None:
        error.message = f"{error.message} (request id {request_id})"
    headers = {"retry-after": str(error.retry_after)} if error.retry_after else {}
    return Reply(error.status, error.body(), headers=headers)


def _response(reply: Reply, request_id: str) -> dict:
    headers = {"x-request-id": request_id, **reply.headers}
    if isinstance(reply.body, bytes):
        return http_response(reply.status, reply.body.decode("utf-8", "replace"), reply.content_type, headers)
    return json_response(reply.status, reply.body, headers)


__all__ = ["handler"]
