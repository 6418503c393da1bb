"""Many fine-tunes on one GPU, on the real engine: vLLM 0.27.1 serving a tiny Llama and two LoRA adapters of it
as SageMaker's adapter inference components (tests/engine/lora_fixtures.py), through every way into the proxy.

The model writes gibberish; what matters is that each adapter answers as a model of its own, in its own words
(at temperature 0 an adapter changes the text), under its own name.
"""

from __future__ import annotations

import json

import openai
import pytest

from components.component_hosting import base_component_name
from tests.engine.conftest import streamed_text
from tests.engine.lora_fixtures import ADAPTERS, BASE_MODEL, LORA_ENDPOINT, adapter_components

pytestmark = pytest.mark.engine

QUESTION = [{"role": "user", "content": "what is the capital of france?"}]
PROMPT = "User: can you count to five?\nAssistant:"
MODELS = (BASE_MODEL, *ADAPTERS)


@pytest.fixture
def engine_proxy_env(lora_proxy_env):
    """Every way into the proxy (engine_client, buffered, streaming_runtime) in front of the adapters' stack."""
    return lora_proxy_env


def _chat(client: openai.OpenAI, model: str, **extra) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(model=model, messages=QUESTION, max_tokens=8, temperature=0, **extra)


def test_the_model_list_is_the_base_model_then_each_adapter(engine_client):
    assert [model.id for model in engine_client.models.list()] == list(MODELS)
    assert engine_client.models.retrieve("tiny-legal").id == "tiny-legal"


def test_each_adapter_answers_under_its_own_name_and_in_its_own_words(engine_client, engine_proxy_env):
    answers = {model: _chat(engine_client, model) for model in MODELS}

    assert {model: answer.model for model, answer in answers.items()} == {model: model for model in MODELS}
    texts = {model: answer.choices[0].message.content for model, answer in answers.items()}
    assert all(texts.values()), texts
    assert len(set(texts.values())) == len(MODELS), texts  # each adapter changes the text
    # Each went to its own component on the endpoint, as SageMaker routes it.
    invoked = [request.inference_component for request in engine_proxy_env.requests]
    assert invoked == [base_component_name(LORA_ENDPOINT), *adapter_components().values()]
    assert {request.endpoint for request in engine_proxy_env.requests} == {LORA_ENDPOINT}


def test_an_adapter_streams_the_same_words_it_answers_whole(engine_client):
    whole = _chat(engine_client, "tiny-support").choices[0].message.content

    chunks = list(_chat(engine_client, "tiny-support", stream=True))

    assert {chunk.model for chunk in chunks} == {"tiny-support"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole


def test_an_adapter_completes_a_prompt_in_its_own_words(engine_client):
    texts = {
        model: engine_client.completions.create(model=model, prompt=PROMPT, max_tokens=8, temperature=0)
        for model in MODELS
    }

    assert {model: completion.model for model, completion in texts.items()} == {model: model for model in MODELS}
    assert len({completion.choices[0].text for completion in texts.values()}) == len(MODELS)


def test_a_model_that_is_neither_the_base_nor_an_adapter_is_not_found(engine_client, engine_proxy_env):
    with pytest.raises(openai.NotFoundError) as caught:
        _chat(engine_client, "tiny-unknown")

    assert caught.value.body["code"] == "model_not_found"
    assert engine_proxy_env.requests == []  # refused before SageMaker


def test_the_buffered_lambda_handler_answers_for_an_adapter(buffered, engine_client):
    expected = _chat(engine_client, "tiny-legal").choices[0].message.content

    response = buffered(
        "POST", "/v1/chat/completions", {"model": "tiny-legal", "messages": QUESTION, "max_tokens": 8, "temperature": 0}
    )

    body = json.loads(response["body"])
    assert response["statusCode"] == 200, body
    assert body["model"] == "tiny-legal"
    assert body["choices"][0]["message"]["content"] == expected


def test_the_streaming_lambda_runtime_streams_an_adapter(streaming_runtime, engine_client):
    expected = _chat(engine_client, "tiny-support").choices[0].message.content

    prelude, events, _ = streaming_runtime(
        {"model": "tiny-support", "messages": QUESTION, "max_tokens": 8, "temperature": 0, "stream": True}
    )

    assert prelude["statusCode"] == 200
    assert {event["model"] for event in events if isinstance(event, dict)} == {"tiny-support"}
    assert streamed_text(events) == expected
    assert events[-1] == "[DONE]"
