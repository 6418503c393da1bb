"""The streaming REST API as one OpenAPI document: the routes, their streaming Lambda integrations, and
OpenAI-shaped bodies for the answers API Gateway gives itself.

One document, imported whole (PutRestApi, mode overwrite), so a route change reaches the next deployment
at once: with separate Method resources a removed route was deleted only after the new deployment had
been made, and stayed served until the one after. Pure functions of plain values, tested without Pulumi.

Sources: AWS's OpenAPI example for a streaming Lambda proxy integration (`responseTransferMode: "STREAM"`,
the `…/response-streaming-invocations` URI; https://docs.aws.amazon.com/apigateway/latest/developerguide/
response-streaming-lambda-configure.html) and the gateway response extension (`statusCode`,
`responseParameters`, `responseTemplates`; api-gateway-swagger-extensions-gateway-responses.gatewayResponse.html).

CORS (apiCorsOrigins): with a Lambda proxy integration the function returns the CORS headers itself
(https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-cors.html#apigateway-enable-cors-proxy),
so each path also routes OPTIONS, the browsers' preflight, to the proxy (proxy/openai_proxy/cors.py), which
echoes an allowed Origin. A MOCK integration could answer only with static headers: choosing one origin of
several needs a VTL template, which would spell the list a second time, untested. Gateway responses carry
static headers only (see `gateway_cors_headers`).
"""

from __future__ import annotations

import json
from typing import Any

from components.api_spec import ROUTES
from openai_proxy.contract import CORS_EXPOSED_HEADERS, STREAMING_SECONDS

# The ceiling for a STREAM integration (BUFFERED allows 29 s without a quota increase), as long as the function runs.
STREAM_TIMEOUT_MS = STREAMING_SECONDS * 1000
# An unknown path or method: API Gateway answers MISSING_AUTHENTICATION_TOKEN (403 "Missing Authentication
# Token") for both and cannot tell them apart, so both get a 404, as OpenAI and the HTTP API answer them.
UNKNOWN_URL_TYPES = ("MISSING_AUTHENTICATION_TOKEN", "RESOURCE_NOT_FOUND")


def openapi_document(
    function_uri: str, rate_limit: int, burst_limit: int, cors_origins: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The whole REST API: every route of ROUTES streamed from the function at `function_uri`; with
    `cors_origins`, also OPTIONS on each path, answered by the function."""
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        method, path = route.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = _proxied(function_uri, path)
    if cors_origins:
        for path, methods in paths.items():
            methods["options"] = _proxied(function_uri, path)
    return {
        "openapi": "3.0.1",
        "info": {"title": "sagemaker-llm", "version": "1"},
        "paths": paths,
        "x-amazon-apigateway-gateway-responses": gateway_responses(rate_limit, burst_limit, cors_origins),
    }


def _proxied(function_uri: str, path: str) -> dict[str, Any]:
    """An operation streamed from the function (a Lambda proxy integration)."""
    operation: dict[str, Any] = {
        "responses": {"default": {"description": "the proxy's answer, OpenAI-shaped"}},
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "httpMethod": "POST",  # Lambda is always invoked with POST
            "uri": function_uri,
            "responseTransferMode": "STREAM",
            "timeoutInMillis": STREAM_TIMEOUT_MS,
        },
    }
    if "{" in path:  # the greedy model id: GET /v1/models/{model+}
        name = path[path.index("{") + 1 : path.index("}")].rstrip("+")
        operation["parameters"] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]
    return operation


def gateway_responses(
    rate_limit: int, burst_limit: int, cors_origins: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """API Gateway's own answers (no route, throttled, the function unreachable) as OpenAI errors clients parse.

    Templates get $context values substituted, nothing else (no VTL); `$context.error.messageString` is the
    gateway's message already quoted as a JSON string.
    """
    routes = ", ".join(sorted(route.replace("{model+}", "{model}") for route in ROUTES))
    cors = gateway_cors_headers(cors_origins)
    unknown_url = _response(
        "404",
        _error(f'"Invalid URL or method. This API serves {routes}."', "invalid_request_error", '"unknown_url"'),
        cors,
    )
    return {
        **dict.fromkeys(UNKNOWN_URL_TYPES, unknown_url),
        "THROTTLED": _response(
            "429",
            _error(
                f'"Too many requests: this API accepts {rate_limit} a second, in bursts of up to {burst_limit}. '
                'Retry in a moment."',
                "rate_limit_error",
                '"rate_limit_exceeded"',
            ),
            cors,
            retry_after_seconds=1,
        ),
        # A status of the 4xx/5xx family stays API Gateway's own; the body says which answer it was.
        "DEFAULT_4XX": _response(
            None,
            _error("$context.error.messageString", "invalid_request_error", '"$context.error.responseType"'),
            cors,
        ),
        "DEFAULT_5XX": _response(
            None,
            _error(
                '"API Gateway got no answer from the proxy function: it may be answering as many requests as it '
                'may at once, or failing. Retry in a moment (request id $context.requestId)."',
                "server_error",
                '"$context.error.responseType"',
            ),
            cors,
        ),
    }


def gateway_cors_headers(cors_origins: tuple[str, ...]) -> dict[str, str]:
    """What lets a browser on an allowed origin read API Gateway's own answers (429, 5xx, unknown URL).

    Only static values: a gateway response cannot choose among origins (no VTL), and mapping
    `method.request.header.origin` would let every origin read it. So `*` for `["*"]`, the origin itself for
    a single one, and nothing for several: their browsers then see a network error instead of these answers.
    """
    if len(cors_origins) != 1:
        return {}
    return {
        "gatewayresponse.header.Access-Control-Allow-Origin": f"'{cors_origins[0]}'",
        "gatewayresponse.header.Access-Control-Expose-Headers": f"'{CORS_EXPOSED_HEADERS}'",
    }


def _error(message_json: str, type_: str, code_json: str) -> str:
    # Built as text: the message and code may be $context placeholders that must stay unquoted.
    fields = f'"message": {message_json}, "type": {json.dumps(type_)}, "param": null, "code": {code_json}'
    return f'{{"error": {{{fields}}}}}'


def _response(
    status: str | None, template: str, cors: dict[str, str], *, retry_after_seconds: int | None = None
) -> dict[str, Any]:
    headers = {"gatewayresponse.header.Content-Type": "'application/json'", **cors}
    if retry_after_seconds is not None:
        headers["gatewayresponse.header.Retry-After"] = f"'{retry_after_seconds}'"
    response: dict[str, Any] = {"responseParameters": headers, "responseTemplates": {"application/json": template}}
    if status is not None:
        response["statusCode"] = status
    return response
