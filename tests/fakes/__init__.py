"""Offline stand-ins for AWS services, speaking their real wire formats (SageMaker's runtime is emulated by
sagemaker_llm_local.sagemaker_runtime), and the proxy pointed at them the way the tests, the local chain and
bench/ share (sagemaker_llm_local.local_proxy)."""

from __future__ import annotations

import pytest

from openai_proxy.contract import ENV
from sagemaker_llm_local.local_proxy import (
    LOCAL_AWS,
    STEERING_AWS_VARIABLES,
    forget_cached_clients,
    local_proxy_server,
    proxy_environment,
    runtime_environment,
)

FAKE_AWS = LOCAL_AWS  # credentials and region for boto3 clients that talk to the fakes (never to AWS)


def configure_proxy(
    monkeypatch: pytest.MonkeyPatch, runtime_url: str, *, endpoint: str, served_model_name: str, api_key: str
) -> None:
    """The proxy's environment as deployed (openai dialect, a key required), its SageMaker client on `runtime_url`.

    Every variable the proxy reads, and AWS's own that would steer boto3 elsewhere, is cleared first: a
    developer's shell cannot change what a test sees.
    """
    for name in (*ENV.names(), *STEERING_AWS_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    environment = runtime_environment(runtime_url) | proxy_environment(endpoint, served_model_name, api_key)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    forget_cached_clients()  # clients and the key are cached per Lambda container: a test starts a new one


__all__ = ["FAKE_AWS", "configure_proxy", "local_proxy_server"]
