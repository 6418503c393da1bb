"""Authentication: Bearer key, from API_KEY locally or from an SSM SecureString when deployed."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from openai_proxy import auth, aws
from openai_proxy.handler import handler
from tests.proxy.events import API_KEY, api_event, body_of


def status(event: dict) -> int:
    return handler(event)["statusCode"]


def test_right_key_is_accepted(proxy_env):
    assert status(api_event("GET", "/v1/models")) == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": f"Basic {API_KEY}"},
        {"authorization": API_KEY},
        {"authorization": "Bearer wrong-key"},
        {"authorization": f"Bearer {API_KEY}x"},
        {"authorization": "Bearer ключ"},
    ],
)
def test_missing_or_wrong_key_is_401_invalid_api_key(proxy_env, headers):
    response = handler(api_event("GET", "/v1/models", key=None, headers=headers))
    assert response["statusCode"] == 401
    error = body_of(response)["error"]
    assert error["code"] == "invalid_api_key"
    assert API_KEY not in response["body"]


def test_bearer_scheme_is_case_insensitive(proxy_env):
    assert status(api_event("GET", "/v1/models", key=None, headers={"authorization": f"bearer {API_KEY}"})) == 200


def test_every_route_but_health_needs_the_key(proxy_env):
    for method, path in [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/x"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
    ]:
        assert status(api_event(method, path, {}, key=None)) == 401
    assert proxy_env.requests == []


def test_no_key_configured_refuses_clearly(proxy_env, monkeypatch):
    monkeypatch.delenv("API_KEY")
    response = handler(api_event("GET", "/v1/models"))
    assert response["statusCode"] == 503
    assert "API_KEY" in body_of(response)["error"]["message"]


def test_auth_disabled_lets_requests_in_without_a_key(proxy_env, monkeypatch):
    monkeypatch.delenv("API_KEY")
    monkeypatch.setenv("AUTH_DISABLED", "true")
    assert status(api_event("GET", "/v1/models", key=None)) == 200


def test_a_configured_key_wins_over_auth_disabled(proxy_env, monkeypatch):
    monkeypatch.setenv("AUTH_DISABLED", "true")
    assert status(api_event("GET", "/v1/models", key=None)) == 401


@pytest.fixture
def ssm_key(proxy_env, monkeypatch):
    """API_KEY_PARAMETER pointing at a moto SSM SecureString; yields a function that rotates it."""
    monkeypatch.delenv("API_KEY")
    monkeypatch.setenv("API_KEY_PARAMETER", "/sagemaker-llm/api-key")
    clock = [1000.0]
    monkeypatch.setattr(auth, "now", lambda: clock[0])
    with mock_aws():
        aws.forget_clients()
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/sagemaker-llm/api-key", Value="first-key", Type="SecureString")

        def rotate(value: str, *, after: float) -> None:
            ssm.put_parameter(Name="/sagemaker-llm/api-key", Value=value, Type="SecureString", Overwrite=True)
            clock[0] += after

        yield rotate
    aws.forget_clients()


def test_key_from_ssm_secure_string(ssm_key):
    assert status(api_event("GET", "/v1/models", key="first-key")) == 200
    assert status(api_event("GET", "/v1/models", key="nope")) == 401


def test_ssm_key_is_read_once_and_refreshed_after_a_few_minutes(ssm_key, monkeypatch):
    assert status(api_event("GET", "/v1/models", key="first-key")) == 200
    calls = []
    original = aws.ssm

    def counting_ssm(budget_seconds):
        calls.append(budget_seconds)
        return original(budget_seconds)

    monkeypatch.setattr(aws, "ssm", counting_ssm)
    for _ in range(5):
        assert status(api_event("GET", "/v1/models", key="first-key")) == 200
    assert calls == []  # cached per container

    ssm_key("second-key", after=auth.KEY_TTL_SECONDS + 1)
    assert status(api_event("GET", "/v1/models", key="second-key")) == 200
    assert status(api_event("GET", "/v1/models", key="first-key")) == 401
    assert len(calls) == 1


def test_rotated_key_works_soon_without_hammering_ssm(ssm_key):
    assert status(api_event("GET", "/v1/models", key="first-key")) == 200
    ssm_key("rotated-key", after=1)
    assert status(api_event("GET", "/v1/models", key="rotated-key")) == 401  # re-read too recently
    ssm_key("rotated-key", after=auth.MISMATCH_RECHECK_SECONDS)
    assert status(api_event("GET", "/v1/models", key="rotated-key")) == 200


def test_unreadable_ssm_parameter_is_503_without_details(proxy_env, monkeypatch):
    monkeypatch.delenv("API_KEY")
    monkeypatch.setenv("API_KEY_PARAMETER", "/does/not/exist")
    with mock_aws():
        aws.forget_clients()
        response = handler(api_event("GET", "/v1/models"))
    aws.forget_clients()
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"]
    assert "/does/not/exist" not in response["body"]
