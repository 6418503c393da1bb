"""Bad input against the real engine (issue 15, item 8): what vLLM 0.27.1 answers itself, and what the
proxy makes of it.

- Fields vLLM's chat schema refuses (a seed outside int64, malformed tool-call history, a json_schema
  whose `strict` or `schema` has the wrong type) make /invocations fall back to the completions
  schema, whose error speaks of `prompt_embeds`: the proxy refuses them first, naming the field.
- A client error vLLM finds only once its stream has begun (an out-of-vocabulary `logit_bias` id:
  HTTP 200, then an error event) is a 400 naming `logit_bias`, not a 502 that SDKs retry.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.engine.conftest import sse_events
from tests.engine.fixtures import API_KEY, MODEL_ID
from tests.engine.test_tools_and_limits import post

pytestmark = pytest.mark.engine

HELLO = [{"role": "user", "content": "What is the capital of France?"}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}
SCHEMA = {"name": "answer", "schema": {"type": "object"}}


def with_history(tool_call: object) -> list[dict]:
    return [
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
    ]


# (what, extra body fields, the parameter the proxy names)
SCHEMA_REFUSALS = [
    ("seed-over-int64", {"seed": 2**63}, "seed"),
    ("tool-call-without-id", {"messages": with_history({k: v for k, v in CALL.items() if k != "id"})}, None),
    (
        "strict-not-boolean",
        {"response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "strict": "sometimes"}}},
        None,
    ),
    ("schema-not-object", {"response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "schema": "s"}}}, None),
]
PARAMS = {
    "tool-call-without-id": "messages[1].tool_calls[0].id",
    "strict-not-boolean": "response_format.json_schema.strict",
    "schema-not-object": "response_format.json_schema.schema",
}


@pytest.mark.parametrize(("what", "fields", "param"), SCHEMA_REFUSALS, ids=[w for w, _, _ in SCHEMA_REFUSALS])
def test_the_engine_answers_a_field_its_chat_schema_refuses_with_a_misleading_message(vllm_engine, what, fields, param):
    status, raw = post(
        vllm_engine.url, "/invocations", {"model": MODEL_ID, "messages": HELLO, "max_tokens": 4, **fields}
    )

    error = json.loads(raw)["error"]
    assert status == 400
    assert "prompt_embeds" in error["message"] or "suitable handler" in error["message"]
    assert error["param"] in ("prompt", None)  # never the field that is wrong


@pytest.mark.parametrize(("what", "fields", "param"), SCHEMA_REFUSALS, ids=[w for w, _, _ in SCHEMA_REFUSALS])
def test_the_proxy_refuses_that_field_itself_and_names_it(engine_client, relay, what, fields, param):
    with pytest.raises(openai.BadRequestError) as refused:
        engine_client.chat.completions.create(
            model=MODEL_ID,
            messages=fields.get("messages", HELLO),
            max_tokens=4,
            **{k: v for k, v in fields.items() if k != "messages"},
        )

    assert refused.value.param == (param or PARAMS[what])
    assert "prompt_embeds" not in refused.value.message
    assert relay.requests == []


@pytest.mark.parametrize(
    "fields",
    [
        {"seed": 2**63 - 1},
        {"seed": -(2**63)},
        {"messages": with_history(CALL)},
        {"response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "strict": True}}},
    ],
    ids=["seed-max", "seed-min", "tool-call-history", "strict-schema"],
)
def test_the_same_fields_within_the_engines_bounds_are_answered(engine_client, relay, fields):
    answer = engine_client.chat.completions.create(
        model=MODEL_ID,
        messages=fields.get("messages", HELLO),
        max_tokens=4,
        **{k: v for k, v in fields.items() if k != "messages"},
    )

    assert answer.choices[0].finish_reason in ("stop", "length")
    assert len(relay.requests) == 1


OUT_OF_VOCABULARY = {"999999": 5}  # tiny-gpt2 has 391 tokens


def test_the_engine_reports_an_out_of_vocabulary_logit_bias_inside_a_200_stream(vllm_engine):
    body = {"model": MODEL_ID, "messages": HELLO, "max_tokens": 4, "stream": True, "logit_bias": OUT_OF_VOCABULARY}

    status, raw = post(vllm_engine.url, "/invocations", body)

    events = sse_events(raw)
    assert status == 200
    assert events[0]["error"]["param"] == "logit_bias"
    assert events[0]["error"]["code"] == 400
    assert events[-1] == "[DONE]"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_out_of_vocabulary_logit_bias_is_a_400_naming_it_in_the_buffered_handler(buffered, relay, stream):
    body = {"model": MODEL_ID, "messages": HELLO, "max_tokens": 4, "stream": stream, "logit_bias": OUT_OF_VOCABULARY}

    response = buffered("POST", "/v1/chat/completions", body)

    error = json.loads(response["body"])["error"]
    assert response["statusCode"] == 400, response["body"]
    assert (error["param"], error["code"]) == ("logit_bias", "model_rejected_request")
    assert "out-of-vocab" in error["message"]


def test_an_out_of_vocabulary_logit_bias_is_a_400_before_the_streaming_runtimes_first_byte(streaming_runtime):
    body = {"model": MODEL_ID, "messages": HELLO, "max_tokens": 4, "stream": True, "logit_bias": OUT_OF_VOCABULARY}

    prelude, _, trailers = streaming_runtime(body)

    assert prelude["statusCode"] == 400
    assert trailers == {}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_sdk_is_refused_once_and_does_not_retry(engine_api, relay, stream):
    client = openai.OpenAI(base_url=engine_api, api_key=API_KEY, max_retries=2, timeout=120)

    with pytest.raises(openai.BadRequestError) as refused:
        answer = client.chat.completions.create(
            model=MODEL_ID, messages=HELLO, max_tokens=4, stream=stream, logit_bias=OUT_OF_VOCABULARY
        )
        list(answer) if stream else answer

    assert refused.value.param == "logit_bias"
    assert len(relay.requests) == 1


def test_the_engines_pydantic_dump_reaches_the_client_as_its_first_error(engine_client):
    audio_without_format = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]

    with pytest.raises(openai.BadRequestError) as refused:
        engine_client.chat.completions.create(model=MODEL_ID, messages=audio_without_format, max_tokens=4)

    message = refused.value.message
    assert "\n" not in message
    assert "errors.pydantic.dev" not in message
    assert "ChatCompletionContentPartTextParam.text: Field required (and 6 more)" in message
