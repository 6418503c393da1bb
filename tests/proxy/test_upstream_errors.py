"""What a client sees when SageMaker or the container fails: the error table of the issue."""

from __future__ import annotations

import json

import boto3
import pytest

from openai_proxy.handler import handler
from sagemaker_llm_local.replies import ErrorReply
from tests.proxy.events import api_event, body_of, chat

VLLM_CONTEXT_ERROR = json.dumps(
    {
        "object": "error",
        "message": "This model's maximum context length is 1024 tokens. However, you requested 5000 tokens.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
)


@pytest.mark.parametrize(
    ("reply", "status", "code", "retry_after"),
    [
        (ErrorReply.endpoint_not_found(), 503, "model_not_deployed", False),
        (ErrorReply.model_not_ready(), 503, "model_not_ready", True),
        (ErrorReply.service_unavailable(), 503, "service_unavailable", True),
        (ErrorReply.throttling(), 429, "rate_limit_exceeded", True),
        (ErrorReply.model_error(400, VLLM_CONTEXT_ERROR), 400, "context_length_exceeded", False),
        (
            ErrorReply.model_error(422, '{"error": "Input validation error", "error_type": "validation"}'),
            400,
            "model_rejected_request",
            False,
        ),
        (ErrorReply.model_error(500, "CUDA error: device-side assert triggered"), 502, "model_error", False),
        # TGI's queue is full: the client should back off and retry, not be told its request is bad.
        (
            ErrorReply.model_error(429, '{"error": "Model is overloaded", "error_type": "overloaded"}'),
            429,
            "rate_limit_exceeded",
            True,
        ),
        (ErrorReply.internal_failure(), 502, "upstream_error", False),
        (ErrorReply.validation("Request payload is too large"), 400, None, False),
    ],
    ids=lambda v: v.code if isinstance(v, ErrorReply) else None,
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_upstream_failure_maps_to_the_right_status(proxy_env, reply, status, code, retry_after, stream):
    proxy_env.script(reply)

    # The client's own max_tokens: a context-length refusal is its to fix (no retry in the room left).
    response = handler(api_event("POST", "/v1/chat/completions", chat(stream=stream, max_tokens=50)))

    assert response["statusCode"] == status
    assert response["headers"]["content-type"] == "application/json"
    error = body_of(response)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code:
        assert error["code"] == code
    assert ("retry-after" in response["headers"]) == retry_after
    for leak in ("arn:aws", "123456789012", "Traceback", "botocore"):
        assert leak not in response["body"]


def test_container_4xx_message_reaches_the_client(proxy_env):
    proxy_env.script(ErrorReply.model_error(400, VLLM_CONTEXT_ERROR))
    error = body_of(handler(api_event("POST", "/v1/chat/completions", chat(max_tokens=50))))["error"]
    assert error["message"].startswith("This model's maximum context length is 1024 tokens.")
    assert error["param"] == "messages"


def test_unreachable_sagemaker_is_502(proxy_env, monkeypatch):
    from openai_proxy import aws

    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")
    aws.forget_clients()
    response = handler(api_event("POST", "/v1/chat/completions", chat()))
    assert response["statusCode"] == 502
    assert body_of(response)["error"]["code"] == "upstream_unreachable"


def test_missing_credentials_is_500_naming_the_request_id(proxy_env, monkeypatch, tmp_path):
    from openai_proxy import aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found
    aws.forget_clients()
    response = handler(api_event("POST", "/v1/chat/completions", chat()))
    assert response["statusCode"] == 500
    assert "req-1" in body_of(response)["error"]["message"]


def test_no_first_byte_before_the_deadline_is_504():
    from botocore.exceptions import ReadTimeoutError

    from openai_proxy.sagemaker import api_error_from_aws

    error = api_error_from_aws(ReadTimeoutError(endpoint_url="http://x"))
    assert (error.status, error.code) == (504, "timeout")


def test_an_unexpected_failure_while_a_buffered_stream_is_generated_is_a_500_not_a_crash(proxy_env, monkeypatch):
    from openai_proxy import sse

    def broken(*args, **kwargs):
        yield from ()
        raise RuntimeError("a bug while reading the model's stream")

    monkeypatch.setattr(sse, "read_generation", broken)

    response = handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))  # raised out of the handler

    assert response["statusCode"] == 500
    error = body_of(response)["error"]
    assert error["type"] == "server_error"
    assert "req-1" in error["message"]
    assert "RuntimeError" not in response["body"]
