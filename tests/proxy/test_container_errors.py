"""A container's own error keeps its status and parameter (issue 15, item 8): a client error is a 400
naming the parameter, whether vLLM refuses at once or only once its stream has begun; a 502 (which the
SDKs retry, three calls for one) is kept for the container's own failures."""

from __future__ import annotations

import json

import openai
import pytest

from openai_proxy.container_errors import first_validation_error
from openai_proxy.handler import handler, stream_handler
from sagemaker_llm_local.container_formats import openai_chat_chunks
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.events import API_KEY, api_event, body_of, chat, sse_events, streamed_text
from tests.proxy.test_payload_v1 import rest_event

# What vLLM 0.27.1 streams for an out-of-vocabulary logit_bias id (measured on /invocations; tiny-gpt2).
OUT_OF_VOCABULARY = (
    "token_id(s) [999999] in logit_bias contain out-of-vocab token ids. Vocabulary size: 391 "
    "(parameter=logit_bias, value=[999999])"
)
IN_STREAM_REFUSAL = (
    b'data: {"error": {"message": "' + OUT_OF_VOCABULARY.encode() + b'", "type": "BadRequestError", '
    b'"param": "logit_bias", "code": 400}}\n\ndata: [DONE]\n\n'
)
# ... and for a schema its grammar backend cannot compile (an empty message, code 500).
IN_STREAM_FAILURE = (
    b'data: {"error": {"message": "", "type": "InternalServerError", "param": null, "code": 500}}\n\ndata: [DONE]\n\n'
)
# vLLM's answer to an audio part without its `format` (measured): every branch of the union, each with a link.
PYDANTIC_DUMP = (
    "7 validation errors for ValidatorIterator\n0.ChatCompletionContentPartTextParam.text\n  Field required "
    "[type=missing, input_value={'type': 'input_audio', '...t_audio': {'data': 'x'}}, input_type=dict]\n    For "
    "further information visit https://errors.pydantic.dev/2.14/v/missing\n0.ChatCompletionContentPartTextParam.type"
    "\n  Input should be 'text' [type=literal_error, input_value='input_audio', input_type=str]\n    For further "
    "information visit https://errors.pydantic.dev/2.14/v/literal_error\n0.File.type\n  Input should be 'file' "
    "[type=literal_error, input_value='input_audio', input_type=str]\n    For further information visit "
    "https://errors.pydantic.dev/2.14/v/literal_error"
)
BIASED = chat(logit_bias={"999999": 5}, max_tokens=5)


def vllm_error(message: str, param: str | None, code: int = 400) -> str:
    return json.dumps({"error": {"message": message, "type": "BadRequestError", "param": param, "code": code}})


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_client_error_in_the_stream_before_any_token_is_a_400_naming_the_parameter(proxy_env, stream):
    proxy_env.script(StreamReply([IN_STREAM_REFUSAL]), StreamReply([IN_STREAM_REFUSAL]))

    buffered = handler(api_event("POST", "/v1/chat/completions", {**BIASED, "stream": stream}))
    streamed = stream_handler(rest_event("POST", "/v1/chat/completions", {**BIASED, "stream": stream}))

    assert (buffered["statusCode"], streamed.status) == (400, 400)
    for error in (body_of(buffered)["error"], json.loads(b"".join(streamed.body))["error"]):
        assert error["param"] == "logit_bias"
        assert (error["type"], error["code"]) == ("invalid_request_error", "model_rejected_request")
        assert error["message"] == OUT_OF_VOCABULARY


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_sdk_gets_a_bad_request_once_instead_of_retrying_a_502(proxy_env, local_proxy, stream):
    proxy_env.script(*[StreamReply([IN_STREAM_REFUSAL]) for _ in range(3)])
    client = openai.OpenAI(base_url=local_proxy, api_key=API_KEY, max_retries=2, timeout=30)

    with pytest.raises(openai.BadRequestError) as refused:
        answer = client.chat.completions.create(**BIASED, stream=stream)
        list(answer) if stream else answer

    assert refused.value.param == "logit_bias"
    assert len(proxy_env.requests) == 1  # a 502 would have been sent three times


def test_a_client_error_after_the_first_token_ends_the_stream_with_that_error(proxy_env):
    role_and_hi = [b"data: %s\n\n" % json.dumps(chunk).encode() for chunk in openai_chat_chunks(["Hi"])[:2]]
    proxy_env.script(StreamReply([*role_and_hi, IN_STREAM_REFUSAL]))

    response = handler(api_event("POST", "/v1/chat/completions", {**BIASED, "stream": True}))

    events = sse_events(response)
    assert response["statusCode"] == 200  # the answer had begun: its status was sent
    assert streamed_text(events) == "Hi"
    error = events[-1]["error"]
    assert (error["param"], error["type"], error["code"]) == (
        "logit_bias",
        "invalid_request_error",
        "model_rejected_request",
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_containers_own_failure_in_the_stream_stays_a_server_error(proxy_env, stream):
    proxy_env.script(StreamReply([IN_STREAM_FAILURE]))

    response = handler(api_event("POST", "/v1/chat/completions", chat(stream=stream)))

    if stream:
        assert response["statusCode"] == 200
        error = sse_events(response)[-1]["error"]
    else:
        assert response["statusCode"] == 502
        error = body_of(response)["error"]
    assert error["type"] == "server_error"


def test_an_ordinary_refusal_carries_the_containers_parameter(proxy_env):
    message = "Requested sample logprobs of 30, which is greater than max allowed: 20"
    proxy_env.script(ErrorReply.model_error(400, vllm_error(message, "logprobs")))

    response = handler(api_event("POST", "/v1/chat/completions", chat(logprobs=True, top_logprobs=20)))

    error = body_of(response)["error"]
    assert response["statusCode"] == 400
    assert (error["param"], error["message"]) == ("logprobs", message)


def test_a_pydantic_dump_is_cut_to_its_first_error(proxy_env):
    proxy_env.script(ErrorReply.model_error(400, vllm_error(PYDANTIC_DUMP, None)))

    error = body_of(handler(api_event("POST", "/v1/chat/completions", chat())))["error"]

    assert error["message"] == (
        "Invalid ValidatorIterator: 0.ChatCompletionContentPartTextParam.text: Field required (and 6 more)"
    )


def test_fastapis_rendering_of_a_validation_error_is_cut_too():
    dump = (
        "1 validation error:\n  {'type': 'less_than_equal', 'loc': ('body', 'seed'), 'msg': 'Input should be less "
        "than or equal to 9223372036854775807', 'input': 99999999999999999999, 'ctx': {'le': 9223372036854775807}}"
    )
    assert (
        first_validation_error(dump)
        == "Invalid request: body.seed: Input should be less than or equal to 9223372036854775807"
    )
    assert first_validation_error("max_tokens must be at least 1") == "max_tokens must be at least 1"
