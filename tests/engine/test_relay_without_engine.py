"""What the relay does when the container misbehaves, with a toy container on 127.0.0.1 (no vLLM: fast suite)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import botocore.exceptions
import pytest

from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.local.emulator_client import runtime_client

CHAT = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "stream": True})


@pytest.fixture
def breaking_container() -> Iterator[str]:
    """Answers one request with a chunked SSE stream and hangs up in the middle of it."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            event = b'data: {"choices": []}\n\n'
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n%s\r\n" % (len(event), event)
                + b'40\r\ndata: {"cho'  # a chunk of 64 bytes announced, 14 sent
            )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    thread.join(5)
    server.close()


def test_a_container_hanging_up_mid_answer_ends_the_stream_with_a_model_stream_error(breaking_container):
    with SageMakerRuntime(relay_to=breaking_container) as relay:
        response = runtime_client(relay.url).invoke_endpoint_with_response_stream(EndpointName="e", Body=CHAT)
        parts = []
        with pytest.raises(botocore.exceptions.EventStreamError) as broken:
            for event in response["Body"]:
                parts.append(event["PayloadPart"]["Bytes"])

    assert b"".join(parts).startswith(b'data: {"choices": []}\n\n')
    assert broken.value.response["Error"]["Code"] == "ModelStreamError"
    assert "stream broke" in broken.value.response["Error"]["Message"]  # boto3 keeps no ErrorCode (StreamBroken)


def test_a_container_that_cannot_be_reached_is_an_internal_failure():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with SageMakerRuntime(relay_to=nobody) as relay, pytest.raises(botocore.exceptions.ClientError) as failed:
        runtime_client(relay.url).invoke_endpoint(EndpointName="e", Body=CHAT)

    assert failed.value.response["Error"]["Code"] == "InternalFailure"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
