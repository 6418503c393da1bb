"""The public model id comes from SERVED_MODEL_NAME; MODEL_ID, its name before, still sets it (docs/design.md)."""

from __future__ import annotations

import pytest

from openai_proxy.config import load_settings
from openai_proxy.contract import ENV
from openai_proxy.handler import handler
from tests.proxy.events import api_event, body_of


@pytest.fixture
def proxy_env_without_a_name(proxy_env, monkeypatch):
    monkeypatch.delenv(ENV.served_model_name)
    return proxy_env


def test_model_id_names_the_model_as_before(proxy_env_without_a_name, monkeypatch):
    """What someone who typed `MODEL_ID=… openai-proxy` before the rename still gets."""
    monkeypatch.setenv("MODEL_ID", "typed-as-before")
    assert [m["id"] for m in body_of(handler(api_event("GET", "/v1/models")))["data"]] == ["typed-as-before"]
    chat = {"model": "typed-as-before", "messages": [{"role": "user", "content": "Hi"}]}
    assert handler(api_event("POST", "/v1/chat/completions", chat))["statusCode"] == 200


def test_served_model_name_wins_over_model_id(proxy_env, monkeypatch):
    monkeypatch.setenv("SERVED_MODEL_NAME", "the-name")
    monkeypatch.setenv("MODEL_ID", "an-old-name")
    assert body_of(handler(api_event("GET", "/v1/models/the-name")))["id"] == "the-name"
    assert handler(api_event("GET", "/v1/models/an-old-name"))["statusCode"] == 404


def test_without_either_the_endpoint_name_is_the_model(proxy_env_without_a_name):
    assert load_settings().served_model_name == load_settings().endpoint_name == "fake-endpoint"
