"""Offline stand-ins for AWS services, speaking their real wire formats (see sagemaker_runtime)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from openai_proxy.local_server import serve_in_thread

# Credentials and region for boto3 clients that talk to the fakes (never to AWS).
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


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
