"""LoRA adapters (ADAPTERS): each is a model of the API, served by its own inference component, answering under
its own name; every way in (both Lambda handlers, the local server with the openai SDK) behaves the same."""

from __future__ import annotations

import json

import openai
import pytest

from openai_proxy.config import load_settings
from openai_proxy.contract import ENV
from openai_proxy.handler import handler, stream_handler
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import MODEL_ID, api_event, body_of, chat
from tests.proxy.test_request_metrics import logged

BASE_COMPONENT = "fake-endpoint-model"
ADAPTERS = {"support": "fake-endpoint-lora-support", "legal-v2": "fake-endpoint-lora-legal-v2"}


@pytest.fixture
def adapters_env(proxy_env, monkeypatch):
    """The proxy as ProxyFunction configures it for a stack with two adapters."""
    monkeypatch.setenv(ENV.inference_component_name, BASE_COMPONENT)
    monkeypatch.setenv(ENV.adapters, json.dumps(ADAPTERS))
    return proxy_env


def _chat(model: str, **extra) -> dict:
    return {**chat(**extra), "model": model}


def test_the_model_list_is_the_base_model_then_each_adapter(adapters_env):
    listing = body_of(handler(api_event("GET", "/v1/models")))
    assert [model["id"] for model in listing["data"]] == [MODEL_ID, "support", "legal-v2"]
    assert body_of(handler(api_event("GET", "/v1/models/legal-v2")))["id"] == "legal-v2"


@pytest.mark.parametrize("model", ["support", "legal-v2"])
def test_an_adapters_request_goes_to_its_component_and_its_answer_carries_its_name(adapters_env, model):
    response = handler(api_event("POST", "/v1/chat/completions", _chat(model)))

    assert response["statusCode"] == 200
    assert body_of(response)["model"] == model
    (sent,) = adapters_env.requests
    assert sent.inference_component == ADAPTERS[model]
    assert sent.json["model"] == model


def test_the_base_model_and_a_request_naming_none_go_to_the_base_component(adapters_env):
    for body in (_chat(MODEL_ID), {k: v for k, v in chat().items() if k != "model"}):
        response = handler(api_event("POST", "/v1/chat/completions", body))
        assert body_of(response)["model"] == MODEL_ID
    assert [sent.inference_component for sent in adapters_env.requests] == [BASE_COMPONENT, BASE_COMPONENT]


def test_a_streamed_answer_of_an_adapter_carries_its_name_in_every_chunk(adapters_env):
    adapters_env.script(StreamReply(one_part_per_line(vllm_chat_sse(["Hello", " there"], model="adapter-x1"))))

    response = stream_handler(api_event("POST", "/v1/chat/completions", _chat("support", stream=True)))

    events = [
        json.loads(line[6:]) for line in b"".join(response.body).decode().split("\n\n") if line.startswith("data: {")
    ]
    assert events and {event["model"] for event in events} == {"support"}  # not vLLM's own name for it
    assert adapters_env.requests[0].inference_component == ADAPTERS["support"]


def test_a_completion_of_an_adapter_goes_to_its_component(adapters_env):
    body = {"model": "legal-v2", "prompt": "Hello", "max_tokens": 5}
    response = handler(api_event("POST", "/v1/completions", body))

    assert body_of(response)["model"] == "legal-v2"
    assert adapters_env.requests[0].inference_component == ADAPTERS["legal-v2"]


def test_a_model_that_is_neither_the_base_nor_an_adapter_is_not_found_and_sagemaker_is_not_called(adapters_env):
    response = handler(api_event("POST", "/v1/chat/completions", _chat("fake-endpoint-lora-support")))

    assert response["statusCode"] == 404
    assert body_of(response)["error"]["code"] == "model_not_found"
    assert handler(api_event("GET", "/v1/models/other"))["statusCode"] == 404
    assert adapters_env.requests == []


def test_the_sdk_on_the_local_server_sees_the_adapters_as_models(adapters_env, openai_client):
    assert [model.id for model in openai_client.models.list()] == [MODEL_ID, "support", "legal-v2"]
    answer = openai_client.chat.completions.create(model="support", messages=[{"role": "user", "content": "Hi"}])
    assert answer.model == "support"
    chunks = list(
        openai_client.chat.completions.create(
            model="legal-v2", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    assert {chunk.model for chunk in chunks} == {"legal-v2"}
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
    assert [sent.inference_component for sent in adapters_env.requests] == list(ADAPTERS.values())


def test_the_metrics_of_an_adapters_request_are_its_own(adapters_env, capsys):
    capsys.readouterr()
    handler(api_event("POST", "/v1/chat/completions", _chat("support")))

    assert logged(capsys)["model"] == "support"


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({ENV.adapters: "support"}, "must be a JSON object of model name → inference component"),
        ({ENV.adapters: '{"support": ""}'}, "must be a JSON object of model name → inference component"),
        ({ENV.adapters: json.dumps({MODEL_ID: "c"})}, f"names the base model {MODEL_ID!r} as an adapter"),
        ({ENV.adapters: json.dumps(ADAPTERS), ENV.inference_component_name: ""}, "needs INFERENCE_COMPONENT_NAME"),
    ],
)
def test_a_bad_adapters_variable_is_a_health_problem(adapters_env, monkeypatch, variables, problem):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    response = handler(api_event("GET", "/health"))

    assert response["statusCode"] == 503
    assert any(problem in line for line in body_of(response)["problems"]), body_of(response)["problems"]


def test_without_adapters_the_settings_serve_the_base_model_alone(proxy_env):
    settings = load_settings()
    assert settings.served_model_names == (MODEL_ID,)
    assert settings.component_for("anything") == ""
