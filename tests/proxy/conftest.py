"""Fixtures for the proxy's tests: AWS pointed at the fake runtime, the proxy's environment, the local server."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from openai_proxy import auth, aws
from tests.fakes import FAKE_AWS, local_proxy_server
from tests.fakes.sagemaker_runtime import FakeSageMakerRuntime
from tests.proxy.events import API_KEY, ENDPOINT, MODEL_ID

PROXY_VARIABLES = (
    "SAGEMAKER_ENDPOINT_NAME",
    "MODEL_ID",
    "BACKEND_DIALECT",
    "API_KEY_PARAMETER",
    "API_KEY",
    "AUTH_DISABLED",
    "MAX_OUTPUT_TOKENS",
    "REQUEST_DEADLINE_SECONDS",
    "TOOL_CALL_PARSER",
    "STOP_SEQUENCES",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture(scope="session")
def fake_runtime() -> Iterator[FakeSageMakerRuntime]:
    with FakeSageMakerRuntime() as fake:
        yield fake


@pytest.fixture
def sagemaker(fake_runtime: FakeSageMakerRuntime) -> Iterator[FakeSageMakerRuntime]:
    """The fake SageMaker runtime, empty of scripts and recorded requests for this test."""
    fake_runtime.reset()
    fake_runtime.text_format = "tgi"
    yield fake_runtime
    fake_runtime.reset()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch, sagemaker: FakeSageMakerRuntime) -> FakeSageMakerRuntime:
    """The proxy configured as deployed (openai dialect, key from API_KEY), talking to the fake."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", sagemaker.url)
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("MODEL_ID", MODEL_ID)
    monkeypatch.setenv("API_KEY", API_KEY)
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "20")
    aws.forget_clients()
    auth.forget_keys()
    return sagemaker


@pytest.fixture(scope="session")
def local_server_url() -> Iterator[str]:
    """One local server (`openai-proxy`) on a free port for the session; it reads the environment per request."""
    with local_proxy_server() as url:
        yield url


@pytest.fixture
def local_proxy(proxy_env: FakeSageMakerRuntime, local_server_url: str) -> str:
    """The local server's OpenAI base URL (…/v1), with the proxy configured by `proxy_env`."""
    return local_server_url


@pytest.fixture
def openai_client(local_proxy: str) -> openai.OpenAI:
    """The official SDK pointed at the local server, without retries (errors surface at once)."""
    return openai.OpenAI(base_url=local_proxy, api_key=API_KEY, max_retries=0, timeout=30)
