"""What the proxy writes to its log (CloudWatch, and CloudWatch's metrics through EMF) never holds a prompt, an
answer, a key or anything else a caller sent: counts, timings, codes and the stack's own names only.

Each request carries a marker wherever a caller can put text; the one log line it writes must hold none of them.
"""

from __future__ import annotations

import json

import pytest

from openai_proxy.handler import handler, stream_handler
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.events import API_KEY, api_event, chat

PROMPT = "PROMPT-MARKER-7f3a"  # the echo model repeats it in its answer too
ANSWER = "ANSWER-MARKER-91cd"
CALLER = "CALLER-MARKER-c2b8"  # any other text a caller chose: a model name, a user id, a header, a stop
WRONG_KEY = "sk-WRONG-KEY-MARKER-4e5d"
MARKERS = (PROMPT, ANSWER, CALLER, WRONG_KEY, API_KEY)


def _log(capsys) -> str:
    return capsys.readouterr().out


def _assert_private(log: str) -> None:
    lines = [line for line in log.splitlines() if line.startswith("{")]
    assert lines, "the request wrote no log line"
    assert [marker for marker in MARKERS if marker in log] == [], log


def _full(event_body: dict, **extra) -> dict:
    """A chat carrying the marker in every field a caller may fill with text."""
    return chat(PROMPT, user=CALLER, stop=[CALLER], **extra) | event_body


HEADERS = {"x-request-id": CALLER, "openai-organization": CALLER, "user-agent": CALLER}


def test_a_buffered_chat_logs_neither_the_prompt_nor_the_answer(proxy_env, capsys):
    capsys.readouterr()
    response = handler(api_event("POST", "/v1/chat/completions", _full({}), headers=HEADERS))
    assert response["statusCode"] == 200 and PROMPT in response["body"]  # the answer echoes it: the log must not
    _assert_private(_log(capsys))


def test_a_streamed_chat_logs_neither_the_prompt_nor_the_answer(proxy_env, capsys):
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse([ANSWER, " and more"]))))
    capsys.readouterr()
    response = stream_handler(api_event("POST", "/v1/chat/completions", _full({"stream": True}), headers=HEADERS))
    assert ANSWER.encode() in b"".join(response.body)
    _assert_private(_log(capsys))


def test_a_completion_logs_no_prompt(proxy_env, capsys):
    capsys.readouterr()
    body = {"model": "test-model", "prompt": PROMPT, "user": CALLER, "max_tokens": 5}
    assert handler(api_event("POST", "/v1/completions", body, headers=HEADERS))["statusCode"] == 200
    _assert_private(_log(capsys))


@pytest.mark.parametrize("key", [WRONG_KEY, f"{API_KEY}x"], ids=["wrong", "the real one and more"])
def test_a_refused_key_is_not_logged(proxy_env, capsys, key):
    capsys.readouterr()
    assert handler(api_event("POST", "/v1/chat/completions", _full({}), key=key))["statusCode"] == 401
    _assert_private(_log(capsys))


def test_an_unknown_model_name_is_answered_but_not_logged(proxy_env, capsys):
    capsys.readouterr()
    response = handler(api_event("POST", "/v1/chat/completions", _full({"model": CALLER})))
    assert response["statusCode"] == 404 and CALLER in response["body"]  # OpenAI names it back to the caller
    log = _log(capsys)
    _assert_private(log)
    assert '"model":"test-model"' in log  # the metric's dimension stays the stack's own name


@pytest.mark.parametrize(
    "body",
    [f'{{"messages": [{{"role": "user", "content": "{PROMPT}"}}]', f'{{"{CALLER}": 1e400}}'],
    ids=["cut short", "not a request"],
)
def test_a_body_that_is_not_a_request_is_not_logged(proxy_env, capsys, body):
    capsys.readouterr()
    assert handler(api_event("POST", "/v1/chat/completions", body))["statusCode"] == 400
    _assert_private(_log(capsys))


# vLLM's 400s quote the refused input (pydantic's `input_value=…`): the log line holds the codes only (ModelError,
# the container's status, its parameter); the endpoint's own log group has the rest.
@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_a_model_error_that_quotes_the_prompt_is_not_logged(proxy_env, capsys, stream):
    # vLLM's validation errors quote what they refused: here a piece of the prompt.
    message = f"1 validation error for ChatCompletionRequest [type=string_type, input_value={PROMPT!r}]"
    proxy_env.script(ErrorReply.model_error(400, message))
    capsys.readouterr()
    event = api_event("POST", "/v1/chat/completions", _full({"stream": stream}))
    response = stream_handler(event) if stream else handler(event)
    if stream:
        assert response.status == 400
        answer = json.loads(b"".join(response.body))  # the log line is written once the answer has been sent
    else:
        assert response["statusCode"] == 400
        answer = json.loads(response["body"])
    assert PROMPT in answer["error"]["message"]  # the caller who sent it is told what the model refused
    log = _log(capsys)
    _assert_private(log)
    assert "ModelError, original status 400" in log


def test_a_model_error_logs_its_codes_and_parameter(proxy_env, capsys):
    container = {"error": {"message": f"bad bias for {PROMPT}", "type": "BadRequestError", "param": "logit_bias"}}
    proxy_env.script(ErrorReply.model_error(400, json.dumps(container)))
    capsys.readouterr()
    response = handler(api_event("POST", "/v1/chat/completions", _full({})))
    assert json.loads(response["body"])["error"] | {"message": "…"} == {
        "message": "…",
        "type": "invalid_request_error",
        "param": "logit_bias",
        "code": "model_rejected_request",
    }
    record = json.loads(_log(capsys).splitlines()[-1])
    assert record["error_detail"] == "ModelError, original status 400, param logit_bias"
    assert record["error_code"] == "model_rejected_request"


def test_a_method_of_the_callers_invention_is_not_logged(proxy_env, capsys):
    capsys.readouterr()
    response = handler(api_event(CALLER.upper(), "/v1/chat/completions", _full({})))
    assert response["statusCode"] == 405
    log = _log(capsys)
    assert CALLER.upper() not in log
    assert json.loads(log.splitlines()[-1])["method"] == "other"


def test_a_stream_that_fails_quoting_the_answer_is_not_logged(proxy_env, capsys):
    parts = one_part_per_line(vllm_chat_sse([ANSWER]))[:2]
    proxy_env.script(StreamReply(parts, error=("ModelStreamError", f"CUDA out of memory after {ANSWER}")))
    capsys.readouterr()
    response = stream_handler(api_event("POST", "/v1/chat/completions", _full({"stream": True})))
    b"".join(response.body)
    _assert_private(_log(capsys))
