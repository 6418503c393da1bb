"""Fixtures for the proxy's tests: AWS pointed at the fake runtime, the proxy's environment, the local server."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.fakes import configure_proxy
from tests.proxy.events import API_KEY, ENDPOINT, MODEL_ID
from tests.proxy_fixtures import sdk_client


@pytest.fixture(scope="session")
def fake_runtime() -> Iterator[SageMakerRuntime]:
    with SageMakerRuntime() as fake:
        yield fake


@pytest.fixture
def sagemaker(fake_runtime: SageMakerRuntime) -> Iterator[SageMakerRuntime]:
    """The fake SageMaker runtime, empty of scripts and recorded requests for this test."""
    fake_runtime.reset()
    fake_runtime.text_format = "tgi"
    yield fake_runtime
    fake_runtime.reset()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch, sagemaker: SageMakerRuntime) -> SageMakerRuntime:
    """The proxy configured as deployed (openai dialect, key from API_KEY), talking to the fake."""
    configure_proxy(monkeypatch, sagemaker.url, endpoint=ENDPOINT, served_model_name=MODEL_ID, api_key=API_KEY)
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "20")
    return sagemaker


@pytest.fixture
def local_proxy(proxy_env: SageMakerRuntime, proxy_server_url: str) -> str:
    """The local server's OpenAI base URL (…/v1), with the proxy configured by `proxy_env`."""
    return proxy_server_url


@pytest.fixture
def openai_client(local_proxy: str) -> openai.OpenAI:
    """The official SDK on the local server (tests/proxy_fixtures.py)."""
    return sdk_client(local_proxy, API_KEY)
