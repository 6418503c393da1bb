"""maxOutputTokens is a hard cap the model itself applies; a long chat is answered in the room left."""

from __future__ import annotations

import json

import pytest

from openai_proxy.handler import handler
from sagemaker_llm_local.container_formats import vllm_chat_sse
from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.events import api_event, body_of, chat, sse_events, streamed_text


def vllm_refusal(message: str, param: str = "input_tokens") -> str:
    """vLLM 0.27.1's error body for a request it refuses (renderers/params.py's wording)."""
    return json.dumps({"error": {"message": message, "type": "BadRequestError", "param": param, "code": 400}})


# prompt + max_tokens > max_model_len: the tokenizer stopped counting at max_input_tokens + 1.
PROMPT_PLUS_CAP = vllm_refusal(
    "This model's maximum context length is 1024 tokens. However, you requested 256 output tokens and your "
    "prompt contains at least 769 input tokens, for a total of at least 1025 tokens. Please reduce the length "
    "of the input prompt or the number of requested output tokens."
)
CAP_OVER_CONTEXT = vllm_refusal(
    "max_tokens=2048 cannot be greater than max_model_len=max_total_tokens=1024. Please request fewer output tokens.",
    "max_tokens",
)
PROMPT_OVER_CONTEXT = vllm_refusal(
    "This model's maximum context length is 1024 tokens. However, you requested 0 output tokens and your "
    "prompt contains at least 1025 input tokens, for a total of at least 1025 tokens. Please reduce the length "
    "of the input prompt or the number of requested output tokens."
)
# Measured: a chat prompt of exactly max_model_len tokens, sent without max_tokens.
PROMPT_FILLS_CONTEXT = vllm_refusal(
    "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)", "max_tokens"
)
# Measured: vLLM refuses a long text before tokenizing it, counting characters.
PROMPT_CHARACTERS_OVER_CONTEXT = vllm_refusal(
    "This model's maximum context length is 1024 tokens. However, you requested 0 output tokens and your "
    "prompt contains 13497 characters (more than 13312 characters, which is the upper bound for 1024 input "
    "tokens). Please reduce the length of the input prompt or the number of requested output tokens.",
    "input_text",
)


def post(body: dict, path: str = "/v1/chat/completions") -> dict:
    return handler(api_event("POST", path, body))


@pytest.mark.parametrize("refusal", [PROMPT_PLUS_CAP, CAP_OVER_CONTEXT], ids=["prompt-plus-cap", "cap-over-context"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_chat_that_leaves_less_room_than_the_cap_is_answered_in_the_room_left(
    proxy_env, monkeypatch, refusal, stream
):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "256")
    proxy_env.script(ErrorReply.model_error(400, refusal))

    response = post(chat(stream=stream))

    assert response["statusCode"] == 200
    text = streamed_text(sse_events(response)) if stream else body_of(response)["choices"][0]["message"]["content"]
    assert text.startswith(ECHO_GREETING)
    first, retry = (r.json for r in proxy_env.requests)
    assert first["max_tokens"] == 256
    # Without max_tokens vLLM allows exactly what the context leaves, which is less than the cap.
    assert "max_tokens" not in retry
    assert {k: v for k, v in first.items() if k != "max_tokens"} == retry


def test_a_client_max_tokens_over_the_cap_is_answered_in_the_room_left_too(proxy_env, monkeypatch):
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "256")  # OpenWebUI asks 1000 tokens for a title
    proxy_env.script(ErrorReply.model_error(400, PROMPT_PLUS_CAP))
    assert post(chat(max_tokens=1000))["statusCode"] == 200
    assert len(proxy_env.requests) == 2


def test_a_client_max_tokens_that_does_not_fit_is_refused_as_openai_does(proxy_env):
    proxy_env.script(ErrorReply.model_error(400, PROMPT_PLUS_CAP))
    response = post(chat(max_tokens=200))
    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    assert len(proxy_env.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_prompt_longer_than_the_context_is_400_context_length_exceeded(proxy_env, stream):
    proxy_env.script(ErrorReply.model_error(400, PROMPT_PLUS_CAP), ErrorReply.model_error(400, PROMPT_OVER_CONTEXT))

    response = post(chat(stream=stream))

    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    )
    assert "maximum context length is 1024 tokens" in error["message"]
    assert "at least 1025 tokens" in error["message"]
    assert "0 output tokens" not in error["message"]  # the retry's wording is not the client's business
    assert len(proxy_env.requests) == 2


@pytest.mark.parametrize(
    ("refusal", "size"),
    [(PROMPT_FILLS_CONTEXT, "whole context"), (PROMPT_CHARACTERS_OVER_CONTEXT, "1024 tokens")],
    ids=["exactly-full", "counted-in-characters"],
)
def test_a_prompt_that_fills_the_context_is_context_length_exceeded(proxy_env, refusal, size):
    proxy_env.script(ErrorReply.model_error(400, PROMPT_PLUS_CAP), ErrorReply.model_error(400, refusal))
    error = body_of(post(chat()))["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")
    assert size in error["message"]
    assert "max_tokens must be" not in error["message"]
    assert "0 output tokens" not in error["message"]


def test_a_completion_that_does_not_fit_is_refused_as_openai_does(proxy_env):
    # vLLM's completions default to 16 tokens even without max_tokens: no room-left retry helps.
    proxy_env.script(ErrorReply.model_error(400, PROMPT_PLUS_CAP))
    error = body_of(post({"prompt": "x" * 50}, "/v1/completions"))["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "prompt")
    assert len(proxy_env.requests) == 1


def test_an_unrelated_refusal_is_not_retried(proxy_env):
    proxy_env.script(ErrorReply.model_error(400, vllm_refusal("response_format: bad schema", "response_format")))
    assert body_of(post(chat()))["error"]["code"] == "model_rejected_request"
    assert len(proxy_env.requests) == 1


def test_tgi_is_retried_with_the_room_its_refusal_names(proxy_env, monkeypatch):
    monkeypatch.setenv("BACKEND_DIALECT", "tgi")
    monkeypatch.setenv("MAX_OUTPUT_TOKENS", "256")
    refusal = json.dumps(
        {
            "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 1024. "
            "Given: 1000 `inputs` tokens and 256 `max_new_tokens`",
            "error_type": "validation",
        }
    )
    proxy_env.script(ErrorReply.model_error(422, refusal))

    assert post(chat())["statusCode"] == 200
    assert [r.json["parameters"]["max_new_tokens"] for r in proxy_env.requests] == [256, 24]


def test_usage_is_the_models_own_count(proxy_env):
    # vLLM streams "" for tokens that end inside a UTF-8 character: deltas are not tokens.
    usage = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    data = vllm_chat_sse(["é", "", "", "t", "é"], finish_reason="length", usage=usage)
    proxy_env.script(StreamReply([data]), StreamReply([data]))

    answer = body_of(post(chat(max_tokens=5)))
    events = sse_events(post(chat(max_tokens=5, stream=True, stream_options={"include_usage": True})))

    assert answer["usage"] == usage
    assert answer["choices"][0]["finish_reason"] == "length"
    assert events[-2]["usage"] == usage
