"""API Gateway proxy events in (payload format 2.0 from the HTTP API, 1.0 from the REST API),
Lambda proxy responses out.

Payload 1.0 (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
"Input format of a Lambda function for proxy integration"): `httpMethod`, `path` (the resource
path without the stage when called through the execute-api URL; `requestContext.path` has the
stage), `headers` (last value of each), `multiValueHeaders` (all values), `queryStringParameters`,
`body`, `isBase64Encoded`, `requestContext.requestId`.

Client text the proxy may echo (the method and path in a 404/405, a header, a JSON field such as
`model`) must be valid Unicode: JSON's `"\ud800"` decodes to a lone UTF-16 surrogate that UTF-8
cannot encode, so one would turn an error message into a failure to send it. Such a request is
refused with a 400 naming the field (`parse_event` for the method, path and headers,
`check_json_text` for the body); the encoders here write anything left as a JSON escape.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterator
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
    return _checked(HttpRequest(method, path, headers, _body(event), request_id))


def request_id_of(event: Any, context: Any = None) -> str:
    """API Gateway's request id, else the Lambda's, else a fresh one (read before anything can fail).

    It goes back in the `x-request-id` header, so only a short printable ASCII id is taken as is.
    """
    ctx = _mapping(event.get("requestContext")) if isinstance(event, dict) else {}
    for candidate in (_text(ctx.get("requestId")), _text(getattr(context, "aws_request_id", ""))):
        if candidate and len(candidate) <= 128 and candidate.isascii() and candidate.isprintable():
            return candidate
    return str(uuid.uuid4())


def raw_header(event: Any, name: str) -> str:
    """A header of an event `parse_event` refused (`name` lower-case; "" when absent): tolerant of anything."""
    headers = _mapping(event.get("headers")) if isinstance(event, dict) else {}
    return next((_text(value) for key, value in headers.items() if str(key).lower() == name), "")


def check_json_text(body: bytes) -> None:
    """Refuse (400, naming the field) a JSON body with a lone surrogate in any string, key or value."""
    where = lone_surrogate_field(body)
    if where is not None:
        raise _not_unicode(f"'{where}'", where)


def lone_surrogate_field(body: bytes) -> str | None:
    """Where a JSON body holds a lone UTF-16 surrogate: a field's name such as `messages[0].content`,
    `model`, or `(body)` for the top level; None when nowhere (or when the body is not JSON at all:
    the route's own parser says so)."""
    if json.detect_encoding(body) == "utf-8" and not _SURROGATE_IN_UTF8.search(body):
        return None  # in UTF-8 JSON a surrogate comes in as a \uD800-\uDFFF escape or its 3 bytes (surrogatepass)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    for where, text in _strings(data):
        if not _is_unicode(text):
            return where[:200] or "(body)"
    return None


def json_text(obj: Any) -> str:
    """JSON text that any UTF-8 encoder accepts: non-ASCII as is, a lone surrogate as its JSON escape."""
    text = json.dumps(obj, ensure_ascii=False)
    return text if text.isascii() else json_bytes_of(text).decode("utf-8")


def json_bytes(obj: Any) -> bytes:
    return json_bytes_of(json.dumps(obj, ensure_ascii=False))


def json_bytes_of(text: str) -> bytes:
    # json.dumps only leaves non-ASCII inside strings, where `\ud800` is the JSON escape of that surrogate.
    return text.encode("utf-8", "backslashreplace")


# ED A0-BF is a surrogate's UTF-8 form: json.loads decodes bytes with surrogatepass, so it gets through.
_SURROGATE_IN_UTF8 = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


def _strings(data: Any) -> Iterator[tuple[str, str]]:
    """(where, text) of every string in a JSON document, keys included, without recursion."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                name = _printable(key)
                here = f"{where}.{name}" if where else name
                stack += [(here, item), (here, key)]  # the key is looked at first
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in reversed(list(enumerate(value))))


def _checked(request: HttpRequest) -> HttpRequest:
    if not _is_unicode(request.method):
        raise _not_unicode("The HTTP method", None)
    if not _is_unicode(request.path):
        raise _not_unicode("The URL path", None)
    for name, value in request.headers.items():
        if not (_is_unicode(name) and _is_unicode(value)):
            raise _not_unicode(f"The header '{_printable(name)[:100]}'", None)
    return request


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """`text` with any lone surrogate spelled as its escape, so that a message may name it."""
    return text if _is_unicode(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_unicode(what: str, param: str | None) -> ApiError:
    return invalid_request(
        f"{what} is not valid Unicode: it holds a lone UTF-16 surrogate (such as \\ud800).", param, "invalid_unicode"
    )


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
    return _checked(HttpRequest(method, path, headers, _body(event), request_id))


def http_response(status: int, body: str, content_type: str, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": content_type, **(headers or {})},
        "body": body,
        "isBase64Encoded": False,
    }


def json_response(status: int, obj: dict, headers: dict[str, str] | None = None) -> dict:
    return http_response(status, json_text(obj), "application/json", headers)


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
