"""The relay speaks SageMaker's runtime API to boto3 and the real container's words: what the proxy
relies on, checked with boto3 alone (no proxy in between)."""

from __future__ import annotations

import json

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from sagemaker_llm_local.replies import ErrorReply
from tests.engine.fixtures import ENDPOINT, MODEL_ID

pytestmark = pytest.mark.engine

CHAT = {"model": MODEL_ID, "messages": [{"role": "user", "content": "What is the capital of France?"}]}


@pytest.fixture
def runtime(engine_proxy_env):
    no_retries = Config(retries={"mode": "standard", "total_max_attempts": 1})  # each call meets exactly one reply
    return boto3.client(
        "sagemaker-runtime", endpoint_url=engine_proxy_env.url, region_name="us-east-1", config=no_retries
    )


def test_a_plain_invocation_returns_the_containers_json(runtime):
    response = runtime.invoke_endpoint(
        EndpointName=ENDPOINT, ContentType="application/json", Body=json.dumps({**CHAT, "max_tokens": 4})
    )

    body = json.loads(response["Body"].read())
    assert response["ContentType"] == "application/json"
    assert body["object"] == "chat.completion"
    assert body["usage"]["completion_tokens"] <= 4


def test_a_streamed_invocation_carries_the_containers_sse_in_several_payload_parts(runtime):
    body = json.dumps({**CHAT, "max_tokens": 8, "stream": True})

    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=ENDPOINT, ContentType="application/json", Body=body
    )

    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    data = b"".join(parts)
    assert response["ContentType"].startswith("text/event-stream")
    assert len(parts) > 1  # forwarded as the container wrote it, not gathered into one part
    assert data.startswith(b"data: {") and data.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("streaming", [False, True], ids=["invoke", "stream"])
def test_a_container_refusal_is_a_model_error_with_its_status_and_message(runtime, streaming):
    too_long = {**CHAT, "messages": [{"role": "user", "content": "paris " * 1100}], "stream": streaming}
    invoke = runtime.invoke_endpoint_with_response_stream if streaming else runtime.invoke_endpoint

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        invoke(EndpointName=ENDPOINT, ContentType="application/json", Body=json.dumps(too_long))

    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["Error"]["Code"] == "ModelError"
    assert error["OriginalStatusCode"] == 400
    assert "maximum context length is 1024 tokens" in json.loads(error["OriginalMessage"])["error"]["message"]


def test_scripted_replies_still_come_first(runtime, engine_proxy_env):
    engine_proxy_env.script(ErrorReply.throttling())

    with pytest.raises(botocore.exceptions.ClientError) as throttled:
        runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=json.dumps(CHAT))
    answered = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=json.dumps(CHAT))

    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert json.loads(answered["Body"].read())["object"] == "chat.completion"
