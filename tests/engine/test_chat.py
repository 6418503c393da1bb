"""The official `openai` SDK through `openai-proxy` and the SageMaker relay to the real vLLM 0.27.1.

The model is tiny and gibberish-writing (tests/engine/make_model.py), so the tests compare the
proxy's answers with what the same engine says when asked directly, and check what the API
promises: shapes, counts, stops, limits.
"""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from tests.engine.fixtures import MODEL_ID

pytestmark = pytest.mark.engine

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
PROMPT = "User: hello?\nAssistant:"


def engine_says(engine, path: str, body: dict) -> dict:
    """What vLLM answers to `body` when asked directly and not streamed, without the proxy or the relay."""
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    request = urllib.request.Request(
        engine.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def test_a_chat_is_answered_with_the_engines_own_text_and_usage(engine_client, relay, vllm_engine):
    answer = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=12, temperature=0)

    direct = engine_says(vllm_engine, "/v1/chat/completions", relay.requests[-1].json)
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == direct["choices"][0]["message"]["content"]
    assert choice.message.content.strip()
    assert choice.finish_reason == direct["choices"][0]["finish_reason"]
    assert answer.usage.prompt_tokens == direct["usage"]["prompt_tokens"]
    assert answer.usage.completion_tokens == direct["usage"]["completion_tokens"] <= 12
    assert answer.model == MODEL_ID


def test_a_streamed_chat_arrives_in_pieces_with_one_finish_and_the_usage_last(engine_client):
    whole = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=12, temperature=0)

    chunks = list(
        engine_client.chat.completions.create(
            model=MODEL_ID,
            messages=QUESTION,
            max_tokens=12,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert finishes == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_a_completion_is_answered(engine_client, relay, vllm_engine):
    answer = engine_client.completions.create(model=MODEL_ID, prompt=PROMPT, max_tokens=6, temperature=0)

    direct = engine_says(vllm_engine, "/v1/completions", relay.requests[-1].json)
    assert answer.choices[0].text == direct["choices"][0]["text"]
    assert answer.choices[0].text.strip()
    assert answer.usage.completion_tokens == direct["usage"]["completion_tokens"] <= 6


def test_a_completion_without_max_tokens_gets_16_tokens_as_openai_documents(engine_client):
    answer = engine_client.completions.create(model=MODEL_ID, prompt=PROMPT, temperature=0)

    assert answer.usage.completion_tokens == 16
    assert answer.choices[0].finish_reason == "length"


def test_chat_logprobs_come_back_per_token_in_openais_schema(engine_client):
    raw = engine_client.chat.completions.with_raw_response.create(
        model=MODEL_ID, messages=QUESTION, max_tokens=5, logprobs=True, top_logprobs=2
    )
    answer = raw.parse()
    logprobs = json.loads(raw.text)["choices"][0]["logprobs"]

    tokens = answer.choices[0].logprobs.content
    assert len(tokens) == answer.usage.completion_tokens
    assert "".join(t.token for t in tokens) == answer.choices[0].message.content
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)
    assert "refusal" in logprobs and logprobs["refusal"] is None  # OpenAI's schema requires it; vLLM omits it


def test_json_mode_makes_the_engine_write_json(engine_client):
    plain = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=8, temperature=0)
    answer = engine_client.chat.completions.create(
        model=MODEL_ID, messages=QUESTION, max_tokens=8, temperature=0, response_format={"type": "json_object"}
    )

    assert not plain.choices[0].message.content.lstrip().startswith("{")
    assert answer.choices[0].message.content.lstrip().startswith("{")  # the grammar held the gibberish to JSON


def test_a_stop_sequence_ends_the_answer_before_it(engine_client):
    whole = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=24, temperature=0)
    text = whole.choices[0].message.content
    stop = text[len(text) // 2 : len(text) // 2 + 2]

    answer = engine_client.chat.completions.create(
        model=MODEL_ID, messages=QUESTION, max_tokens=24, temperature=0, stop=[stop]
    )

    assert answer.choices[0].message.content == text[: text.index(stop)]
    assert answer.choices[0].finish_reason == "stop"


def test_the_dev_stacks_chat_stop_sequences_end_the_turn_where_the_next_user_line_starts(
    engine_client, relay, monkeypatch
):
    whole = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=30, temperature=0)
    assert "\nUser:" in whole.choices[0].message.content  # the tiny model writes both sides, as distilgpt2 does
    monkeypatch.setenv("STOP_SEQUENCES", json.dumps(["\nUser:"]))  # ProxyFunction's value for the dev stack

    answer = engine_client.chat.completions.create(model=MODEL_ID, messages=QUESTION, max_tokens=30, temperature=0)
    streamed = engine_client.chat.completions.create(
        model=MODEL_ID, messages=QUESTION, max_tokens=30, temperature=0, stream=True
    )

    expected = whole.choices[0].message.content.split("\nUser:")[0]
    assert answer.choices[0].message.content == expected
    assert answer.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == expected
    assert "\nUser:" in relay.requests[-1].json["stop"]


def test_top_p_zero_and_whole_number_floats_are_accepted(engine_client):
    answer = engine_client.chat.completions.create(
        model=MODEL_ID, messages=QUESTION, top_p=0, extra_body={"max_tokens": 5.0}
    )

    assert answer.choices[0].message.content
    assert answer.usage.completion_tokens <= 5


def test_completions_echo_works_or_is_refused_by_name(engine_client):
    try:
        answer = engine_client.completions.create(model=MODEL_ID, prompt=PROMPT, max_tokens=4, echo=True)
    except openai.BadRequestError as error:
        assert error.status_code == 400
        assert "echo" in error.message
    else:
        assert answer.choices[0].text.startswith(PROMPT)
        assert len(answer.choices[0].text) > len(PROMPT)
