"""The runtime emulator checks names as SageMaker does and relays each served name to its container, with the
headers SageMaker adds for it; boto3 alone talks to it (what the proxy relies on)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import botocore.exceptions
import pytest

from sagemaker_llm_local.sagemaker_runtime import Container, SageMakerRuntime
from tests.local.emulator_client import ContainerHandler, runtime_client, serving

CHAT = json.dumps({"messages": [{"role": "user", "content": "Hi"}]})
ADAPTER_HEADER = "X-Amzn-SageMaker-Adapter-Identifier"


@pytest.fixture
def container() -> Iterator[tuple[str, list[dict]]]:
    """A container whose /invocations answers with the headers it was sent."""
    seen: list[dict] = []

    class Handler(ContainerHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            self.answer(200, json.dumps({"object": "chat.completion", "choices": []}).encode())

    with serving(Handler) as url:
        yield url, seen


@pytest.fixture
def runtime() -> Iterator[SageMakerRuntime]:
    with SageMakerRuntime() as emulator:
        yield emulator


def invoke(runtime: SageMakerRuntime, endpoint: str, component: str | None = None) -> dict:
    client = runtime_client(runtime.url)
    target = {"InferenceComponentName": component} if component else {}
    return client.invoke_endpoint(EndpointName=endpoint, Body=CHAT, ContentType="application/json", **target)


def refusal(runtime: SageMakerRuntime, endpoint: str, component: str | None = None) -> tuple[int, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        invoke(runtime, endpoint, component)
    error = refused.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def test_an_endpoint_is_relayed_to_its_container_and_any_other_name_is_not_found(runtime, container):
    url, seen = container
    runtime.serve_endpoint("my-endpoint", url)

    answer = invoke(runtime, "my-endpoint")

    assert json.loads(answer["Body"].read())["object"] == "chat.completion"
    assert seen[-1]["path"] == "/invocations"
    assert refusal(runtime, "other-endpoint") == (
        400,
        "ValidationError",
        "Endpoint other-endpoint of account 123456789012 not found.",
    )


def test_an_endpoint_hosting_components_wants_one_of_their_names(runtime, container):
    url, seen = container
    runtime.serve_inference_component("my-endpoint", "my-endpoint-model", url)

    invoke(runtime, "my-endpoint", "my-endpoint-model")

    assert len(seen) == 1
    status, code, message = refusal(runtime, "my-endpoint")
    assert (status, code) == (400, "ValidationError")
    assert message.startswith("Inference Component Name header is required for endpoints")
    assert refusal(runtime, "my-endpoint", "no-such-component")[:2] == (400, "ValidationError")
    assert len(seen) == 1  # refused names never reach the container


def test_a_component_carries_the_headers_sagemaker_adds_for_it_to_the_container(runtime, container):
    url, seen = container
    runtime.serve_inference_component("my-endpoint", "my-endpoint-model", url)
    runtime.serve_inference_component("my-endpoint", "my-endpoint-ft1", Container(url, ((ADAPTER_HEADER, "ft1"),)))

    invoke(runtime, "my-endpoint", "my-endpoint-ft1")
    invoke(runtime, "my-endpoint", "my-endpoint-model")

    assert seen[0][ADAPTER_HEADER.lower()] == "ft1"
    assert ADAPTER_HEADER.lower() not in seen[1]
