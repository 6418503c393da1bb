"""CORS: what lets a web page on an allowed origin (apiCorsOrigins) call the API from a browser.

Behind the streaming REST API the function answers for CORS itself: a Lambda proxy integration returns its own
headers (https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html#apigateway-enable-cors-proxy),
and the API's OpenAPI document routes each path's OPTIONS here (components/rest_api_document.py). The HTTP API
answers CORS itself and ignores a function's CORS headers
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html), so ProxyFunction sets the
origins (contract.ENV.cors_origins) only with apiStreaming.

The protocol is the Fetch standard's (https://fetch.spec.whatwg.org/#http-cors-protocol):
- a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin gets the origin
  back (`*` when any may call), the methods the path serves, the request headers it asked for, and Max-Age.
  The headers are echoed rather than listed: the openai JS SDK sends Authorization, Content-Type and eight
  X-Stainless-* headers, other versions and SDKs others, and the key in Authorization is the only credential;
- every other answer to an allowed origin, errors and streams included, names the origin and exposes the
  headers the SDKs read (CORS_EXPOSED_HEADERS);
- `Vary: Origin` whenever the answer depends on the Origin. No Access-Control-Allow-Credentials: the page sets
  the key itself, and the API uses no cookies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from openai_proxy.contract import CORS_EXPOSED_HEADERS

ANY_ORIGIN = "*"
# How long a browser may reuse a preflight's answer; Chromium caps it at 2 hours, Firefox at 24
# (https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Access-Control-Max-Age).
PREFLIGHT_MAX_AGE_SECONDS = 7200
# A header name is an RFC 9110 token: only such names are echoed, at most this many.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_MAX_ECHOED_HEADERS = 64


def is_preflight(method: str, headers: Mapping[str, str], allowed: tuple[str, ...]) -> bool:
    """A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) while CORS is configured."""
    return bool(allowed) and method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def answer_headers(origin: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The CORS headers of an answer (not a preflight's) to a request from `origin` ("" when it named none)."""
    if not allowed:
        return {}
    headers = _vary(allowed)
    granted = _granted(origin, allowed)
    if granted:
        headers |= {"access-control-allow-origin": granted, "access-control-expose-headers": CORS_EXPOSED_HEADERS}
    return headers


def preflight_headers(
    request_headers: Mapping[str, str], allowed: tuple[str, ...], methods: list[str]
) -> dict[str, str] | None:
    """A preflight's answer for an allowed origin to a path serving `methods`; None for any other origin."""
    granted = _granted(request_headers.get("origin", ""), allowed)
    if not granted:
        return None
    asked = (name.strip().lower() for name in request_headers.get("access-control-request-headers", "").split(","))
    names = list(dict.fromkeys(name for name in asked if _TOKEN.fullmatch(name)))[:_MAX_ECHOED_HEADERS]
    headers = {
        **_vary(allowed),
        "access-control-allow-origin": granted,
        "access-control-allow-methods": ", ".join(methods),
        "access-control-max-age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }
    if names:
        headers["access-control-allow-headers"] = ", ".join(names)
    return headers


def _granted(origin: str, allowed: tuple[str, ...]) -> str:
    """The Access-Control-Allow-Origin value for `origin`: itself, `*`, or "" when it may not call."""
    if not origin:
        return ""
    if ANY_ORIGIN in allowed:
        return ANY_ORIGIN
    return origin if origin in allowed else ""  # exact: browsers send it lower-case, without a default port


def _vary(allowed: tuple[str, ...]) -> dict[str, str]:
    return {} if ANY_ORIGIN in allowed else {"vary": "Origin"}
