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
