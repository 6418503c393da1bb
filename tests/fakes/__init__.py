"""Offline stand-ins for AWS services, speaking their real wire formats (see sagemaker_runtime)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from openai_proxy import auth, aws
from openai_proxy.local_server import serve_in_thread

# Credentials and region for boto3 clients that talk to the fakes (never to AWS).
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


# Every variable the proxy reads (docs/design.md, "Proxy environment"), and AWS's own that would steer boto3
# elsewhere: cleared before a test sets its own, so a developer's shell cannot change what a test sees.
PROXY_VARIABLES = (
    "SAGEMAKER_ENDPOINT_NAME",
    "MODEL_ID",
    "BACKEND_DIALECT",
    "API_KEY_PARAMETER",
    "API_KEY",
    "AUTH_DISABLED",
    "MAX_OUTPUT_TOKENS",
    "REQUEST_DEADLINE_SECONDS",
    "RESPONSE_STREAMING",
    "TOOL_CALL_PARSER",
    "STOP_SEQUENCES",
    "INFERENCE_COMPONENT_NAME",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
)


def configure_proxy(
    monkeypatch: pytest.MonkeyPatch, runtime_url: str, *, endpoint: str, model_id: str, api_key: str
) -> None:
    """The proxy's environment as deployed (openai dialect, a key required), its SageMaker client on `runtime_url`."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime_url)
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", endpoint)
    monkeypatch.setenv("MODEL_ID", model_id)
    monkeypatch.setenv("API_KEY", api_key)
    aws.forget_clients()  # clients and the key are cached per Lambda container: a test starts a new one
    auth.forget_keys()


@contextmanager
def local_proxy_server() -> Iterator[str]:
    """The local `openai-proxy` on a free 127.0.0.1 port, as its OpenAI base URL (…/v1)."""
    server, thread = serve_in_thread("127.0.0.1", 0)
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
