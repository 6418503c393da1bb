"""The emulator's echo model refuses a token budget it cannot serve as a container does, and SageMaker relays that
refusal as a ModelError (424, OriginalStatusCode the container's status); boto3 alone talks to it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import botocore.exceptions
import pytest

from sagemaker_llm_local.echo_model import ECHO_GREETING
from sagemaker_llm_local.sagemaker_runtime import RECORDED_REQUESTS, SageMakerRuntime
from tests.local.emulator_client import runtime_client

HELLO = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def client() -> Iterator:
    with SageMakerRuntime() as emulator:
        yield runtime_client(emulator.url)


def invoke(client, body: dict, *, stream: bool = False) -> dict:
    call = client.invoke_endpoint_with_response_stream if stream else client.invoke_endpoint
    return call(EndpointName="my-endpoint", Body=json.dumps(body), ContentType="application/json")


def refusal(client, body: dict, *, stream: bool = False) -> tuple[int, int, dict]:
    """SageMaker's status, the container's status and the container's error body."""
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        invoke(client, body, stream=stream)
    response = refused.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert "my-endpoint" in response["LogStreamArn"]
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["OriginalStatusCode"],
        json.loads(response["OriginalMessage"]),
    )


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("request_shape", [{"messages": HELLO}, {"prompt": "Hi"}], ids=["chat", "completion"])
def test_max_tokens_that_is_not_an_integer_is_the_containers_400(client, stream, request_shape):
    status, original, body = refusal(client, {**request_shape, "max_tokens": "many", "stream": stream}, stream=stream)

    assert (status, original) == (424, 400)
    assert body["error"]["type"] == "BadRequestError"
    assert body["error"]["message"].startswith("Cannot find suitable handler for request.")


@pytest.mark.parametrize("max_tokens", [-5, 0])
def test_max_tokens_below_one_is_the_containers_400_naming_it(client, max_tokens):
    status, original, body = refusal(client, {"messages": HELLO, "max_tokens": max_tokens})

    assert (status, original) == (424, 400)
    assert body["error"]["param"] == "max_tokens"
    assert body["error"]["message"].startswith(f"max_tokens must be at least 1, got {max_tokens}.")


@pytest.mark.parametrize("max_new_tokens", ["many", -5, 0])
def test_a_text_generation_budget_below_one_is_tgis_422(client, max_new_tokens):
    status, original, body = refusal(client, {"inputs": "Hi", "parameters": {"max_new_tokens": max_new_tokens}})

    assert (status, original) == (424, 422)
    assert body["error_type"] == "validation"


@pytest.mark.parametrize("max_tokens", [2, "2", 2.0])
def test_a_budget_pydantic_reads_as_an_integer_cuts_the_answer(client, max_tokens):
    answer = json.loads(invoke(client, {"messages": HELLO, "max_tokens": max_tokens})["Body"].read())

    assert answer["choices"][0]["message"]["content"] == " ".join(ECHO_GREETING.split()[:2])
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 2


def test_a_long_run_keeps_only_the_last_requests():
    """`sagemaker-llm-local` runs for hours: the bodies it records for the tests must not grow without bound."""
    with SageMakerRuntime() as emulator:
        client = runtime_client(emulator.url)
        for number in range(RECORDED_REQUESTS + 50):
            invoke(client, {"messages": [{"role": "user", "content": f"question {number}"}], "max_tokens": 1})
        kept = [request.json["messages"][0]["content"] for request in emulator.requests]

    assert kept == [f"question {number}" for number in range(50, RECORDED_REQUESTS + 50)]
