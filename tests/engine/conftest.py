"""The proxy's three ways in, each in front of the real engine (fixtures from tests/engine/fixtures.py).

- `engine_api` → the local server (`openai-proxy`) on a free port: its OpenAI base URL (…/v1);
- `engine_client` → the official `openai` SDK on it, with the key and no retries;
- `buffered` → `buffered(method, path, body)`: the HTTP API's handler with a payload-2.0 event;
- `streaming_runtime` → `streaming_runtime(body)`: the streaming runtime loop (`apiStreaming`) serving
  one REST API event through a fake Lambda Runtime API, returning (prelude, SSE events, trailers).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from openai_proxy.handler import handler, stream_handler
from openai_proxy.lambda_runtime import RuntimeApiClient, serve
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.engine.fixtures import API_KEY
from tests.proxy.events import api_event
from tests.proxy.test_payload_v1 import rest_event
from tests.proxy_fixtures import sdk_client
from tests.streaming.conftest import FakeRuntimeApi

_invocations = itertools.count(1)


@pytest.fixture
def engine_api(engine_proxy_env: SageMakerRuntime, proxy_server_url: str) -> str:
    """The local server's OpenAI base URL (tests/proxy_fixtures.py), with the proxy configured by `engine_proxy_env`."""
    return proxy_server_url


@pytest.fixture
def engine_client(engine_api: str) -> openai.OpenAI:
    return sdk_client(engine_api, API_KEY, timeout=120)


@pytest.fixture
def buffered(engine_proxy_env: SageMakerRuntime) -> Callable[..., dict]:
    """`buffered(method, path, body)`: the Lambda response of the buffered handler (HTTP API, payload 2.0)."""

    def call(method: str, path: str, body: Any = None) -> dict:
        return handler(api_event(method, path, body, key=API_KEY))

    return call


@pytest.fixture
def streaming_runtime(
    engine_proxy_env: SageMakerRuntime, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[dict, list, dict]]]:
    """`streaming_runtime(body)`: POST /v1/chat/completions through the streaming runtime, as ProxyFunction runs it
    with apiStreaming; returns the prelude (status, headers), the `data:` events and the trailers."""
    monkeypatch.setenv("RESPONSE_STREAMING", "true")
    runtime_api = FakeRuntimeApi()
    runtime_api.start()
    client = RuntimeApiClient(runtime_api.address)

    def call(body: Any, path: str = "/v1/chat/completions") -> tuple[dict, list, dict]:
        invocation = f"inv-{next(_invocations)}"
        event = rest_event("POST", path, body, key=API_KEY)
        runtime_api.add_invocation(invocation, event)
        loop = threading.Thread(target=serve, args=(stream_handler, client), kwargs={"max_invocations": 1}, daemon=True)
        loop.start()
        response = runtime_api.wait_for_complete(invocation, timeout=120)
        loop.join(10)
        prelude, _, data = response.data.partition(b"\x00" * 8)
        return json.loads(prelude), sse_events(data), response.trailers

    yield call
    client.reset()
    runtime_api.stop()


def sse_events(data: bytes | str) -> list[Any]:
    """The `data:` payloads of an event stream, JSON-decoded ([DONE] kept as a string)."""
    text = data.decode() if isinstance(data, bytes) else data
    events: list[Any] = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            payload = block[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def streamed_text(events: list[Any]) -> str:
    """The answer's text, joined from the chunks' deltas."""
    chunks = [e for e in events if isinstance(e, dict) and e.get("choices")]
    return "".join((c["choices"][0].get("delta") or {}).get("content") or "" for c in chunks)
