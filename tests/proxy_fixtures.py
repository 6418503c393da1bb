"""The proxy's local server and the official `openai` SDK on it: one set for every suite (a pytest plugin,
loaded by tests/conftest.py), whatever runtime the suite points the proxy at.

- `proxy_server_url` (session): one `openai-proxy` on a free 127.0.0.1 port, as its OpenAI base URL (…/v1). It
  reads the proxy's environment per request, so each test configures it first: tests/proxy with `proxy_env`
  (the fake runtime), tests/engine with `engine_proxy_env` (the relay to vLLM); their `local_proxy` and
  `engine_api` are this server so configured.
- `sdk_client(base_url, api_key, timeout=30)`: the SDK as an application makes it, without retries, so an
  error surfaces at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from sagemaker_llm_local.local_proxy import local_proxy_server


@pytest.fixture(scope="session")
def proxy_server_url() -> Iterator[str]:
    with local_proxy_server() as url:
        yield url


def sdk_client(base_url: str, api_key: str, timeout: float = 30) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)
