"""The local openai-proxy backed by the fake SageMaker runtime, for the smoke tool's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openai_proxy import auth, aws
from tests.fakes import FAKE_AWS, local_proxy_server
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime

API_KEY = "smoke-test-key-0123456789"
MODEL_ID = "fake-model"
ENDPOINT = "fake-endpoint"
PROXY_VARIABLES = ("API_KEY_PARAMETER", "AUTH_DISABLED", "BACKEND_DIALECT", "AWS_PROFILE", "AWS_ENDPOINT_URL")


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSageMakerRuntime]:
    """The fake SageMaker runtime (echo model), reached by boto3 through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME."""
    with FakeSageMakerRuntime() as fake:
        for name in PROXY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in FAKE_AWS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", fake.url)
        yield fake


def start_proxy(monkeypatch: pytest.MonkeyPatch, **environment: str) -> Iterator[str]:
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("MODEL_ID", MODEL_ID)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    aws.forget_clients()
    auth.forget_keys()
    with local_proxy_server() as url:
        yield url
    aws.forget_clients()
    auth.forget_keys()


@pytest.fixture
def local_api(sagemaker: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`openai-proxy` as deployed (a key required), on a free port: its OpenAI base URL."""
    yield from start_proxy(monkeypatch, API_KEY=API_KEY)


@pytest.fixture
def open_local_api(sagemaker: FakeSageMakerRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`openai-proxy` with AUTH_DISABLED=true: it accepts any key, which smoke must report."""
    monkeypatch.delenv("API_KEY", raising=False)
    yield from start_proxy(monkeypatch, AUTH_DISABLED="true")
