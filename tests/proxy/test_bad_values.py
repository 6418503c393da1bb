"""Values the proxy must refuse itself, naming the parameter, before the model sees them (issue 15, item 8).

Each is refused alike by the HTTP API's buffered handler, the streaming runtime's handler (a REST
API event) and the local server, and never reaches SageMaker.
"""

from __future__ import annotations

import json

import pytest

from openai_proxy.handler import handler, stream_handler
from tests.proxy.events import MODEL_ID, api_event, body_of
from tests.proxy.test_hardening_bad_input import local_request
from tests.proxy.test_payload_v1 import rest_event

HELLO = [{"role": "user", "content": "Hi"}]
HUGE = 10**400  # a JSON integer of 401 digits: past a float's range, so float(HUGE) overflows

# (path, body, the parameter the error names): every numeric field the proxy checks for a range.
HUGE_NUMBERS = [
    ("/v1/chat/completions", {"messages": HELLO, "temperature": HUGE}, "temperature"),
    ("/v1/chat/completions", {"messages": HELLO, "top_p": HUGE}, "top_p"),
    ("/v1/chat/completions", {"messages": HELLO, "presence_penalty": HUGE}, "presence_penalty"),
    ("/v1/chat/completions", {"messages": HELLO, "frequency_penalty": -HUGE}, "frequency_penalty"),
    ("/v1/chat/completions", {"messages": HELLO, "logit_bias": {"50256": HUGE}}, "logit_bias"),
    ("/v1/chat/completions", {"messages": HELLO, "logprobs": True, "top_logprobs": HUGE}, "top_logprobs"),
    ("/v1/completions", {"model": MODEL_ID, "prompt": "Hi", "logprobs": HUGE}, "logprobs"),
]


def refused_everywhere(proxy_env, local_proxy: str, path: str, body: dict) -> list[dict]:
    """The error of each way in; asserts each is a 400 and that SageMaker was not called."""
    text = json.dumps(body)
    errors = []
    buffered = handler(api_event("POST", path, text))
    assert buffered["statusCode"] == 400, buffered["body"]
    errors.append(body_of(buffered)["error"])
    streamed = stream_handler(rest_event("POST", path, body))
    assert streamed.status == 400
    errors.append(json.loads(b"".join(streamed.body))["error"])
    local = local_request(local_proxy, "POST", path, text.encode())
    assert local.status == 400
    errors.append(json.loads(local.read())["error"])
    assert proxy_env.requests == []
    return errors


@pytest.mark.parametrize(("path", "body", "param"), HUGE_NUMBERS, ids=[p for _, _, p in HUGE_NUMBERS])
def test_a_huge_integer_is_a_400_naming_the_parameter(proxy_env, local_proxy, capfd, path, body, param):
    for error in refused_everywhere(proxy_env, local_proxy, path, body):
        assert error["param"] == param
        assert error["type"] == "invalid_request_error"
    assert "Traceback" not in capfd.readouterr().err


def test_an_integer_too_long_for_python_to_read_is_a_400_too(proxy_env, local_proxy):
    # Python refuses to parse integers of more than 4300 digits: the body is then not JSON it can read.
    text = '{"messages": [{"role": "user", "content": "Hi"}], "temperature": 1' + "0" * 5000 + "}"
    assert handler(api_event("POST", "/v1/chat/completions", text))["statusCode"] == 400
    assert local_request(local_proxy, "POST", "/v1/chat/completions", text.encode()).status == 400


def answered(tool_calls: list) -> list[dict]:
    """A chat whose assistant turn called tools, and the tool's answer."""
    return [
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
    ]


CALL = {"id": "call_1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}
SCHEMA = {"name": "answer", "schema": {"type": "object"}}

# (body, the parameter named): what vLLM's chat schema refuses, where it then answers about `prompt_embeds`.
BAD_FIELDS = [
    ({"messages": HELLO, "seed": 2**63}, "seed"),
    ({"messages": HELLO, "seed": -(2**63) - 1}, "seed"),
    ({"messages": answered(["call_1"])}, "messages[1].tool_calls[0]"),
    ({"messages": answered([{**CALL, "id": 1}])}, "messages[1].tool_calls[0].id"),
    ({"messages": answered([{k: v for k, v in CALL.items() if k != "type"}])}, "messages[1].tool_calls[0].type"),
    ({"messages": answered([{**CALL, "function": "clock"}])}, "messages[1].tool_calls[0].function"),
    ({"messages": answered([{**CALL, "function": {"arguments": "{}"}}])}, "messages[1].tool_calls[0].function.name"),
    (
        {"messages": answered([{**CALL, "function": {"name": "clock", "arguments": {}}}])},
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        {"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "strict": "yes"}}},
        "response_format.json_schema.strict",
    ),
    (
        {"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "schema": [1]}}},
        "response_format.json_schema.schema",
    ),
]


@pytest.mark.parametrize(("body", "param"), BAD_FIELDS, ids=[p for _, p in BAD_FIELDS])
def test_a_field_the_models_schema_refuses_is_a_400_naming_it(proxy_env, local_proxy, body, param):
    for error in refused_everywhere(proxy_env, local_proxy, "/v1/chat/completions", body):
        assert error["param"] == param
        assert param.rsplit(".", 1)[-1].split("[")[0] in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"messages": HELLO, "seed": 2**63 - 1},
        {"messages": HELLO, "seed": -(2**63)},
        {"messages": answered([CALL])},
        {"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {**SCHEMA, "strict": True}}},
        {"messages": HELLO, "response_format": {"type": "json_schema", "json_schema": {"name": "answer"}}},
    ],
    ids=["seed-max", "seed-min", "tool-calls", "strict", "no-schema"],
)
def test_the_same_fields_within_bounds_reach_the_model_as_sent(proxy_env, body):
    response = handler(api_event("POST", "/v1/chat/completions", body))

    assert response["statusCode"] == 200, response["body"]
    sent = proxy_env.requests[-1].json
    for name in ("seed", "response_format"):
        assert sent.get(name) == body.get(name)
    assert sent["messages"] == body["messages"]
