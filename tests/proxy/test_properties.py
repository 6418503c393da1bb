"""Whatever arrives, the handler answers: a well-formed OpenAI response or error, never a 5xx for a client's mistake."""

from __future__ import annotations

import base64
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_proxy.handler import handler
from tests.proxy.events import API_KEY, MODEL_ID, api_event

PROPERTY_SETTINGS = settings(
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
numbers = st.one_of(st.integers(-5, 5), st.floats(-3, 3), st.floats(), json_values)
parts = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image_url", "input_audio", "x"])},
        optional={"text": st.text(max_size=20) | json_values, "image_url": json_values},
    ),
    max_size=3,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "wizard"])},
        optional={
            "content": st.text(max_size=40) | parts | json_values,
            "name": st.text(max_size=8) | json_values,
            "tool_call_id": st.text(max_size=8),
            "tool_calls": json_values,
        },
    ),
    max_size=4,
)
tools = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": st.from_regex(r"[a-z_]{1,10}", fullmatch=True)}),
        }
    ),
    max_size=2,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from([MODEL_ID, "", None, "gpt-4o"]) | json_values,
        "messages": messages | json_values,
        "temperature": numbers,
        "top_p": numbers,
        "max_tokens": st.integers(-2, 50) | json_values,
        "max_completion_tokens": st.integers(-2, 50) | json_values,
        "n": st.integers(0, 3) | json_values,
        "stop": st.lists(st.text(max_size=4), max_size=6) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": st.booleans() | json_values})
        | json_values,
        "tools": tools | json_values,
        "tool_choice": st.sampled_from(["auto", "none", "required"]) | json_values,
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]) | json_values,
        "logprobs": st.booleans() | json_values,
        "top_logprobs": st.integers(-1, 25) | json_values,
        "seed": st.integers() | json_values,
        "presence_penalty": numbers,
        "logit_bias": st.dictionaries(st.from_regex(r"[0-9]{1,3}", fullmatch=True), numbers, max_size=2) | json_values,
        "prompt": st.text(max_size=30) | st.lists(st.text(max_size=5), max_size=2) | json_values,
        "unknown": json_values,
    },
)
valid_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": st.text(max_size=40)}
    ),
    min_size=1,
    max_size=4,
)
streaming = st.sampled_from(
    [{}, {"stream": False}, {"stream": True}, {"stream": True, "stream_options": {"include_usage": True}}]
)
valid_chat_bodies = st.builds(
    lambda base, stream: {**base, **stream},
    st.fixed_dictionaries(
        {"messages": valid_messages},
        optional={
            "model": st.sampled_from([MODEL_ID, ""]),
            "temperature": st.floats(0, 2),
            "top_p": st.floats(0.01, 1),
            "max_tokens": st.integers(1, 40),
            "stop": st.lists(st.text(min_size=1, max_size=4), max_size=4),
            "user": st.text(max_size=5),
        },
    ),
    streaming,
)
paths = st.sampled_from(
    ["/v1/chat/completions", "/v1/completions", "/v1/models", f"/v1/models/{MODEL_ID}", "/health", "/v1/x", "/"]
) | st.text(max_size=30)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]) | st.text(max_size=6)
dialects = st.sampled_from(["openai", "lmi", "tgi"])


def assert_well_formed(response: dict) -> None:
    assert isinstance(response, dict)
    status = response["statusCode"]
    assert isinstance(status, int)
    assert 200 <= status < 500, response["body"][:500]
    assert isinstance(response["body"], str)
    if response["headers"]["content-type"].startswith("text/event-stream"):
        assert status == 200
        blocks = [b for b in response["body"].split("\n\n") if b]
        assert all(b.startswith("data: ") for b in blocks)
        assert blocks[-1] == "data: [DONE]"
        return
    body = json.loads(response["body"])
    if status >= 400:
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["message"]
    else:
        assert body.get("object") in ("chat.completion", "text_completion", "list", "model") or "status" in body


def with_dialect(dialect: str, event) -> dict:
    previous = os.environ.get("BACKEND_DIALECT")
    os.environ["BACKEND_DIALECT"] = dialect
    try:
        return handler(event)
    finally:
        if previous is None:
            os.environ.pop("BACKEND_DIALECT", None)
        else:
            os.environ["BACKEND_DIALECT"] = previous


@PROPERTY_SETTINGS
@given(body=chat_bodies, path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]), dialect=dialects)
def test_any_request_body_gets_a_well_formed_answer(proxy_env, body, path, dialect):
    assert_well_formed(with_dialect(dialect, api_event("POST", path, json.dumps(body))))


@PROPERTY_SETTINGS
@given(
    method=methods,
    path=paths,
    body=st.none() | st.text(max_size=60) | st.binary(max_size=60),
    encoded=st.booleans(),
    headers=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3),
    key=st.sampled_from([API_KEY, None, "wrong", ""]),
)
def test_any_event_gets_a_well_formed_answer(proxy_env, method, path, body, encoded, headers, key):
    event = api_event(method, "/", key=key, headers=headers)
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body, encoded
    assert_well_formed(handler(event))


@PROPERTY_SETTINGS
@given(event=json_values)
def test_any_json_value_as_event_gets_an_error_not_an_exception(proxy_env, event):
    assert_well_formed(handler(event))


@PROPERTY_SETTINGS
@given(body=valid_chat_bodies, dialect=dialects)
def test_any_valid_chat_request_is_answered(proxy_env, body, dialect):
    response = with_dialect(dialect, api_event("POST", "/v1/chat/completions", json.dumps(body)))
    assert response["statusCode"] == 200, response["body"][:500]
    assert_well_formed(response)
