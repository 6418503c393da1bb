"""REST API events (payload format 1.0) get the same answers as HTTP API events (2.0)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from openai_proxy.handler import handler
from openai_proxy.http_event import is_payload_v1, parse_event
from tests.proxy.events import API_KEY, MODEL_ID, api_event, body_of, chat, sse_events, streamed_text


def rest_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = API_KEY,
    base64_body: bool = False,
    stage: str = "api",
) -> dict:
    """An event as a REST API's Lambda proxy integration sends it, through the execute-api URL:
    `path` without the stage, `requestContext.path` with it, headers in both shapes."""
    headers = {"Content-Type": "application/json", "User-Agent": "tests"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    text = None
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        text = base64.b64encode(raw).decode() if base64_body else raw.decode()
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "restapi",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "requestId": "rest-req-1",
            "resourcePath": path,
            "stage": stage,
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }


def test_a_rest_event_is_recognised_and_a_v2_event_is_not():
    assert is_payload_v1(rest_event("GET", "/v1/models"))
    assert is_payload_v1({"version": "1.0", "httpMethod": "GET", "path": "/"})
    assert not is_payload_v1(api_event("GET", "/v1/models"))


def test_rest_event_parses_method_path_headers_body_and_request_id():
    request = parse_event(rest_event("POST", "/v1/chat/completions", chat()))
    assert (request.method, request.path, request.request_id) == ("POST", "/v1/chat/completions", "rest-req-1")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.body) == chat()


def test_the_stage_is_not_taken_from_a_rest_path_even_when_it_looks_like_one():
    # A stage named v1 would otherwise eat the /v1 of every route.
    request = parse_event(rest_event("GET", "/v1/models", stage="v1"))
    assert request.path == "/v1/models"


def test_repeated_headers_are_joined_from_multi_value_headers():
    event = rest_event("GET", "/v1/models")
    event["headers"]["X-Many"] = "b"
    event["multiValueHeaders"]["X-Many"] = ["a", "b"]
    assert parse_event(event).headers["x-many"] == "a,b"


def test_models_through_a_rest_event(proxy_env):
    response = handler(rest_event("GET", "/v1/models"))
    assert response["statusCode"] == 200
    assert body_of(response)["data"][0]["id"] == MODEL_ID
    assert response["headers"]["x-request-id"] == "rest-req-1"


def test_model_path_parameter_through_a_rest_event(proxy_env):
    assert body_of(handler(rest_event("GET", f"/v1/models/{MODEL_ID}")))["id"] == MODEL_ID


def test_missing_key_in_a_rest_event_is_401(proxy_env):
    response = handler(rest_event("GET", "/v1/models", key=None))
    assert response["statusCode"] == 401
    assert body_of(response)["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("base64_body", [False, True])
def test_chat_through_a_rest_event_streams_like_through_v2(proxy_env, base64_body):
    v1 = handler(rest_event("POST", "/v1/chat/completions", chat(stream=True), base64_body=base64_body))
    v2 = handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    assert v1["statusCode"] == v2["statusCode"] == 200
    assert streamed_text(sse_events(v1)) == streamed_text(sse_events(v2)) != ""
    assert proxy_env.requests[0].json == proxy_env.requests[1].json


def test_health_needs_no_key_through_a_rest_event(proxy_env):
    response = handler(rest_event("GET", "/health", key=None))
    assert (response["statusCode"], body_of(response)["status"]) == (200, "ok")
