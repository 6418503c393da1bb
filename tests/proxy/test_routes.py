"""Routes, methods, event shapes and bodies, as API Gateway delivers them."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from openai_proxy.config import MAX_BODY_BYTES
from openai_proxy.contract import ROUTES as CONTRACT_ROUTES
from openai_proxy.handler import handler
from tests.proxy.events import API_KEY, MODEL_ID, api_event, body_of, chat


def assert_openai_error(response: dict, status: int, code: str | None = None) -> dict:
    assert response["statusCode"] == status
    assert response["headers"]["content-type"] == "application/json"
    error = body_of(response)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_models_lists_the_one_public_model(proxy_env):
    listing = body_of(handler(api_event("GET", "/v1/models")))
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [MODEL_ID]
    assert listing["data"][0]["object"] == "model"


def test_model_by_id_and_unknown_model(proxy_env):
    assert body_of(handler(api_event("GET", f"/v1/models/{MODEL_ID}")))["id"] == MODEL_ID
    assert_openai_error(handler(api_event("GET", "/v1/models/gpt-4o")), 404, "model_not_found")


def test_model_id_with_a_slash_is_found(proxy_env, monkeypatch):
    monkeypatch.setenv("SERVED_MODEL_NAME", "meta-llama/Llama-3.1-8B-Instruct")
    response = handler(api_event("GET", "/v1/models/meta-llama%2FLlama-3.1-8B-Instruct"))
    assert body_of(response)["id"] == "meta-llama/Llama-3.1-8B-Instruct"
    response = handler(api_event("GET", "/v1/models/meta-llama/Llama-3.1-8B-Instruct"))
    assert body_of(response)["id"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_health_needs_no_key_and_shows_no_secret(proxy_env):
    response = handler(api_event("GET", "/health", key=None))
    assert response["statusCode"] == 200
    health = body_of(response)
    assert health["status"] == "ok"
    assert health["model"] == MODEL_ID
    assert API_KEY not in response["body"]


def test_health_reports_a_missing_setting(proxy_env, monkeypatch):
    monkeypatch.delenv("SAGEMAKER_ENDPOINT_NAME")
    monkeypatch.setenv("BACKEND_DIALECT", "klingon")
    response = handler(api_event("GET", "/health", key=None))
    assert response["statusCode"] == 503
    problems = " ".join(body_of(response)["problems"])
    assert "SAGEMAKER_ENDPOINT_NAME" in problems
    assert "BACKEND_DIALECT" in problems


def test_requests_to_a_misconfigured_proxy_get_a_clear_503(proxy_env, monkeypatch, capsys):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "lots")
    error = assert_openai_error(handler(api_event("POST", "/v1/chat/completions", chat())), 503)
    assert "MAX_OUTPUT_TOKENS" in error["message"]
    assert proxy_env.requests == []
    assert "MAX_OUTPUT_TOKENS" in json.loads(capsys.readouterr().out.splitlines()[-1])["error_detail"]


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/embeddings", "/v2/chat/completions", "/v1/chat"])
def test_unknown_path_is_404(proxy_env, path):
    assert_openai_error(handler(api_event("POST", path, {})), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/chat/completions"), ("PUT", "/v1/completions"), ("POST", "/v1/models"), ("DELETE", "/health")],
)
def test_wrong_method_is_405(proxy_env, method, path):
    assert_openai_error(handler(api_event(method, path)), 405)


def test_base64_body_is_decoded(proxy_env):
    response = handler(api_event("POST", "/v1/chat/completions", chat("Base64!"), base64_body=True))
    assert response["statusCode"] == 200
    assert body_of(response)["choices"][0]["message"]["content"].endswith("You said: Base64!")


def test_invalid_base64_body_is_400(proxy_env):
    event = api_event("POST", "/v1/chat/completions", "not base64 at all!!")
    event["isBase64Encoded"] = True
    assert_openai_error(handler(event), 400)


def test_body_over_the_cap_is_413(proxy_env):
    huge = chat("x" * MAX_BODY_BYTES)
    assert_openai_error(handler(api_event("POST", "/v1/chat/completions", huge)), 413, "request_too_large")
    assert_openai_error(handler(api_event("POST", "/v1/chat/completions", huge, base64_body=True)), 413)
    assert proxy_env.requests == []


def test_a_body_refused_before_routing_still_names_the_request_id(proxy_env, capsys):
    capsys.readouterr()
    response = handler(
        api_event("POST", "/v1/chat/completions", "not base64!", base64_body=False) | {"isBase64Encoded": True}
    )
    assert response["statusCode"] == 400
    assert response["headers"]["x-request-id"] == "req-1"  # was "": the id was read with the body
    assert '"request_id":"req-1"' in capsys.readouterr().out


def test_named_stage_prefix_is_ignored(proxy_env):
    response = handler(api_event("GET", "/v1/models", stage="prod"))
    assert response["statusCode"] == 200


def test_trailing_slash_is_tolerated(proxy_env):
    assert handler(api_event("GET", "/v1/models/"))["statusCode"] == 200


def test_event_without_headers_or_body_is_a_clean_error(proxy_env):
    event = api_event("POST", "/v1/chat/completions")
    del event["headers"]
    assert_openai_error(handler(event), 401, "invalid_api_key")
    event = api_event("POST", "/v1/chat/completions")
    event["body"] = None
    assert_openai_error(handler(event), 400)


@pytest.mark.parametrize("event", [None, {}, [], "GET /", {"requestContext": "x", "headers": 7, "rawPath": 3}])
def test_malformed_events_get_an_openai_error(proxy_env, event):
    response = handler(event)
    assert response["statusCode"] in (400, 401, 404, 405)
    assert "error" in json.loads(response["body"])


def test_one_json_log_line_per_request_without_prompt_or_key(proxy_env, capsys):
    secret_prompt = "my secret prompt about llamas"
    handler(api_event("POST", "/v1/chat/completions", chat(secret_prompt)))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["request_id"] == "req-1"
    assert record["route"] == "/v1/chat/completions"
    assert record["status"] == 200
    assert record["latency_ms"] >= 0
    assert record["dialect"] == "openai"
    assert record["completion_tokens"] > 0
    assert record["prompt_tokens"] > 0
    assert record["cut_at_deadline"] is False
    assert "llamas" not in lines[0]
    assert "fake model" not in lines[0]
    assert API_KEY not in lines[0]


def test_response_carries_the_request_id(proxy_env):
    assert handler(api_event("GET", "/v1/models"))["headers"]["x-request-id"] == "req-1"


def test_unexpected_failure_is_500_naming_the_request_id(proxy_env, monkeypatch):
    from openai_proxy import routes

    def explode(call):
        raise RuntimeError("arn:aws:sagemaker:us-east-1:123456789012:endpoint/secret")

    exploding = [replace(r, answer=explode) if r.pattern == "/v1/models" else r for r in routes.ROUTES]
    monkeypatch.setattr(routes, "ROUTES", tuple(exploding))
    error = assert_openai_error(handler(api_event("GET", "/v1/models")), 500)
    assert "req-1" in error["message"]
    assert "arn:" not in error["message"]
    assert "Traceback" not in error["message"]


def test_base64_event_from_api_gateway_with_binary_content_type(proxy_env):
    raw = json.dumps(chat("bin")).encode()
    event = api_event("POST", "/v1/chat/completions", headers={"content-type": "application/octet-stream"})
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    assert handler(event)["statusCode"] == 200


def test_the_proxy_serves_the_contract_s_routes_and_no_other():
    from openai_proxy import contract, routes

    served = {(route.method, route.pattern, route.public) for route in routes.ROUTES}
    assert served == {(route.method, route.path, route.public) for route in contract.ROUTES}


@pytest.mark.parametrize("route", CONTRACT_ROUTES, ids=lambda route: route.key)
def test_each_route_is_found_and_its_method_is_the_allow_of_any_other(proxy_env, route):
    path = route.path.replace("{model}", MODEL_ID)
    answered = handler(api_event(route.method, path, {} if route.method == "POST" else None, key=None))
    assert answered["statusCode"] == (200 if route.public else 401)  # found; a key asked of all but public ones
    refused = handler(api_event("DELETE", path))
    assert refused["statusCode"] == 405
    assert refused["headers"]["allow"] == route.method
