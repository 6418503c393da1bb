"""API Gateway proxy events in (payload format 2.0 from the HTTP API, 1.0 from the REST API),
Lambda proxy responses out.

Payload 1.0 (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
"Input format of a Lambda function for proxy integration"): `httpMethod`, `path` (the resource
path without the stage when called through the execute-api URL; `requestContext.path` has the
stage), `headers` (last value of each), `multiValueHeaders` (all values), `queryStringParameters`,
`body`, `isBase64Encoded`, `requestContext.requestId`.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from openai_proxy.config import MAX_BODY_BYTES
from openai_proxy.errors import ApiError, invalid_request


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    request_id: str = ""


def parse_event(event: Any, context: Any = None) -> HttpRequest:
    """The parts of a 1.0 or 2.0 event the proxy uses; tolerant of missing pieces, strict about the body."""
    event = event if isinstance(event, dict) else {}
    ctx = _mapping(event.get("requestContext"))
    request_id = request_id_of(event, context)
    if is_payload_v1(event):
        return _parse_v1(event, ctx, request_id)
    http = _mapping(ctx.get("http"))
    method = (_text(http.get("method")) or _text(event.get("httpMethod"))).upper()
    path = _text(event.get("rawPath")) or _text(http.get("path")) or "/"
    stage = _text(ctx.get("stage"))
    if stage and stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
        path = path[len(stage) + 1 :] or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    headers = {str(k).lower(): _text(v) for k, v in _mapping(event.get("headers")).items()}
    return HttpRequest(method, path, headers, _body(event), request_id)


def request_id_of(event: Any, context: Any = None) -> str:
    """API Gateway's request id, else the Lambda's, else a fresh one (read before anything can fail)."""
    ctx = _mapping(event.get("requestContext")) if isinstance(event, dict) else {}
    return _text(ctx.get("requestId")) or _text(getattr(context, "aws_request_id", "")) or str(uuid.uuid4())


def is_payload_v1(event: dict) -> bool:
    """A REST API (payload format 1.0) event: `httpMethod` and `path` instead of `rawPath`."""
    return event.get("version") == "1.0" or ("httpMethod" in event and "rawPath" not in event)


def _parse_v1(event: dict, ctx: dict, request_id: str) -> HttpRequest:
    method = (_text(event.get("httpMethod")) or _text(ctx.get("httpMethod"))).upper()
    # `path` is the resource path as routed (no stage prefix); never strip a "stage" from it.
    path = _text(event.get("path")) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    headers = {str(k).lower(): _text(v) for k, v in _mapping(event.get("headers")).items()}
    for name, values in _mapping(event.get("multiValueHeaders")).items():
        if isinstance(values, list) and values:
            headers[str(name).lower()] = ",".join(_text(v) for v in values)
    return HttpRequest(method, path, headers, _body(event), request_id)


def http_response(status: int, body: str, content_type: str, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": content_type, **(headers or {})},
        "body": body,
        "isBase64Encoded": False,
    }


def json_response(status: int, obj: dict, headers: dict[str, str] | None = None) -> dict:
    return http_response(status, json.dumps(obj, ensure_ascii=False), "application/json", headers)


def _body(event: dict) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise invalid_request("The request body must be text.")
    encoded = event.get("isBase64Encoded") is True
    if len(body) > (MAX_BODY_BYTES * 4 // 3 + 4 if encoded else MAX_BODY_BYTES):
        raise _too_large()
    if not encoded:
        data = body.encode("utf-8", "surrogatepass")
    else:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_request("The request body is not valid base64.") from exc
    if len(data) > MAX_BODY_BYTES:
        raise _too_large()
    return data


def _too_large() -> ApiError:
    return ApiError(
        413, f"The request body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB.", code="request_too_large"
    )


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
