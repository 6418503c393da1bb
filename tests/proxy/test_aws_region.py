"""The AWS region comes from the standard variables: AWS_REGION alone (a laptop) works, none is a clear error."""

from __future__ import annotations

import pytest

from openai_proxy import aws
from openai_proxy.handler import handler
from tests.proxy.events import api_event, body_of, chat


def _ask(**fields) -> dict:
    return handler(api_event("POST", "/v1/chat/completions", chat("Hi", **fields)), None)


def test_aws_region_alone_is_enough_for_the_local_server(proxy_env, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    aws.forget_clients()

    response = _ask()

    assert response["statusCode"] == 200, response["body"]
    assert "Hello from the fake model" in body_of(response)["choices"][0]["message"]["content"]


def test_no_region_at_all_is_an_error_that_says_what_to_set(proxy_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    aws.forget_clients()

    response = _ask()

    assert response["statusCode"] == 500
    error = body_of(response)["error"]
    assert error["code"] == "configuration_error"
    assert "AWS_REGION" in error["message"]
    assert "Traceback" not in response["body"]


@pytest.fixture(autouse=True)
def _fresh_clients():
    yield
    aws.forget_clients()
