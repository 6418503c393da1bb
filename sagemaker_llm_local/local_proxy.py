"""The proxy in this process, in front of a SageMaker runtime on 127.0.0.1: what the tests and bench/ share.

- `runtime_environment(runtime_url)`: AWS's variables for a boto3 that reaches the runtime at `runtime_url`
  (LOCAL_AWS: credentials that work nowhere else);
- `proxy_environment(endpoint, served_model_name, api_key)`: the proxy's own variables as deployed (the
  openai dialect, a key required), with the key itself instead of its SSM parameter;
- `local_proxy_server()`: `openai-proxy` on a free port, as its OpenAI base URL (…/v1).

The proxy reads its environment and caches its clients per process, as a Lambda container does: after
changing the environment, `forget_cached_clients()` starts it afresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from openai_proxy import auth, aws
from openai_proxy.contract import ENV
from openai_proxy.local_server import serve_in_thread

# Credentials and region for boto3 clients that talk to a runtime here: they work nowhere else.
LOCAL_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# AWS's own variables that would steer boto3 elsewhere (a profile, another endpoint): never taken from a shell.
STEERING_AWS_VARIABLES = ("AWS_PROFILE", "AWS_ENDPOINT_URL")


def runtime_environment(runtime_url: str) -> dict[str, str]:
    return {**LOCAL_AWS, "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime_url}


def proxy_environment(endpoint: str, served_model_name: str, api_key: str) -> dict[str, str]:
    return {ENV.endpoint_name: endpoint, ENV.served_model_name: served_model_name, ENV.api_key: api_key}


def forget_cached_clients() -> None:
    """The proxy's boto3 clients and API key are cached per Lambda container: start a new one."""
    aws.forget_clients()
    auth.forget_keys()


@contextmanager
def local_proxy_server(host: str = "127.0.0.1") -> Iterator[str]:
    """The local `openai-proxy` on a free port, as its OpenAI base URL (…/v1); stopped on leaving."""
    server, thread = serve_in_thread(host, 0)
    address, port = server.server_address[:2]
    try:
        yield f"http://{address}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
