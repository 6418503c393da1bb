"""The local openai-proxy backed by the fake SageMaker runtime, for the smoke tool's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openai_proxy.contract import ENV
from sagemaker_llm_local.local_proxy import STEERING_AWS_VARIABLES, forget_cached_clients, runtime_environment
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.fakes import configure_proxy, local_proxy_server

API_KEY = "smoke-test-key-0123456789"
MODEL_ID = "fake-model"
ENDPOINT = "fake-endpoint"


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[SageMakerRuntime]:
    """The fake SageMaker runtime (echo model), reached by boto3 through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME."""
    with SageMakerRuntime() as fake:
        for name in (*ENV.names(), *STEERING_AWS_VARIABLES):
            monkeypatch.delenv(name, raising=False)
        for name, value in runtime_environment(fake.url).items():
            monkeypatch.setenv(name, value)
        yield fake


def start_proxy(monkeypatch: pytest.MonkeyPatch, sagemaker: SageMakerRuntime, *, keyless: bool) -> Iterator[str]:
    configure_proxy(monkeypatch, sagemaker.url, endpoint=ENDPOINT, served_model_name=MODEL_ID, api_key=API_KEY)
    if keyless:
        monkeypatch.delenv(ENV.api_key)
        monkeypatch.setenv(ENV.auth_disabled, "true")
    with local_proxy_server() as url:
        yield url
    forget_cached_clients()


@pytest.fixture
def local_api(sagemaker: SageMakerRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`openai-proxy` as deployed (a key required), on a free port: its OpenAI base URL."""
    yield from start_proxy(monkeypatch, sagemaker, keyless=False)


@pytest.fixture
def open_local_api(sagemaker: SageMakerRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`openai-proxy` with AUTH_DISABLED=true: it accepts any key, which smoke must report."""
    yield from start_proxy(monkeypatch, sagemaker, keyless=True)
