"""A long answer on the real engine: the buffered API cuts it at its deadline, the streaming API (the stacks'
default) delivers all of it.

Each way in runs as the dev stack deploys it, read from ProxyFunction under mocks: as committed, the streaming
runtime (no deadline setting, RESPONSE_STREAMING, a 900 s timeout); with apiStreaming false, the HTTP API's
buffered handler (REQUEST_DEADLINE_SECONDS 28, a 30 s timeout). The model is vLLM itself; only its speed is
simulated, so the test is the same on any machine: the deadline's clock (`deadline.now`, there for tests) moves
on by SECONDS_PER_TOKEN for each token the proxy reads from the model, as if it wrote TOKENS_PER_SECOND.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from openai_proxy import deadline, generation
from openai_proxy.handler import handler, stream_handler
from openai_proxy.lambda_runtime import RuntimeApiClient, serve
from tests.engine.conftest import sse_events, streamed_text
from tests.engine.fixtures import API_KEY, MODEL_ID
from tests.proxy.events import api_event
from tests.proxy.test_payload_v1 import rest_event
from tests.streaming.conftest import FakeRuntimeApi

pytestmark = pytest.mark.engine

TOKENS_PER_SECOND = 10  # a 7-8B model on one GPU writes 30-40; a long answer of a slower one, or a 4x longer one
SECONDS_PER_TOKEN = 1 / TOKENS_PER_SECOND
MAX_TOKENS = 500  # 50 s at that speed: well past the HTTP API's 30 s, well inside a stream's 15 minutes
CHAT = {
    "model": MODEL_ID,
    "messages": [{"role": "user", "content": "Tell me a long story about the sea."}],
    "max_tokens": MAX_TOKENS,
    "temperature": 0,
    "stream": True,  # as OpenWebUI asks
    "stream_options": {"include_usage": True},
}


class LambdaContext:
    """What the managed runtime hands the buffered handler: the time left of the function's timeout."""

    def __init__(self, timeout_seconds: int) -> None:
        self.deadline = time.time() + timeout_seconds
        self.aws_request_id = "buffered-request"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.time()) * 1000)


@pytest.fixture
def deployed(cached_run, stack_config):
    """(environment, timeout) of the dev stack's proxy function, as committed or with `overrides`."""

    def function(**overrides) -> tuple[dict, int]:
        run = cached_run({**stack_config("dev"), **{f"sagemaker-llm:{k}": v for k, v in overrides.items()}})
        inputs = run.one("aws:lambda/function:Function").inputs
        return inputs["environment"]["variables"], inputs["timeout"]

    return function


@pytest.fixture
def model_clock(monkeypatch):
    """`deadline.now` moves on SECONDS_PER_TOKEN for every token the proxy reads from the model, and only then.

    Returns the list holding the count of tokens read so far (the model's time: that count times SECONDS_PER_TOKEN)."""
    tokens = [0]
    monkeypatch.setattr(deadline, "now", lambda: tokens[0] * SECONDS_PER_TOKEN)

    class TimedReader(generation.StreamReader):
        def feed(self, part: bytes):
            deltas = super().feed(part)
            tokens[0] += sum(1 for delta in deltas if delta.content)
            return deltas

    monkeypatch.setattr(generation, "StreamReader", TimedReader)
    return tokens


def configure_as_deployed(monkeypatch, environment: dict) -> None:
    for name in ("REQUEST_DEADLINE_SECONDS", "RESPONSE_STREAMING"):
        if name in environment:
            monkeypatch.setenv(name, environment[name])
        else:
            monkeypatch.delenv(name, raising=False)


def answer_of(events: list) -> tuple[str, str, int]:
    """(text, last finish_reason, completion_tokens) of a streamed chat."""
    finishes = [e["choices"][0]["finish_reason"] for e in events if isinstance(e, dict) and e.get("choices")]
    usage = next(e["usage"] for e in reversed(events) if isinstance(e, dict) and e.get("usage"))
    return streamed_text(events), [f for f in finishes if f][-1], usage["completion_tokens"]


def test_a_long_answer_is_cut_by_the_buffered_api_and_streamed_whole_by_the_streaming_api(
    engine_proxy_env, deployed, model_clock, monkeypatch
):
    streaming_env, streaming_timeout = deployed()  # the dev stack as committed streams
    buffered_env, buffered_timeout = deployed(apiStreaming=False)  # the opt-out: the HTTP API
    assert (streaming_env.get("RESPONSE_STREAMING"), streaming_timeout) == ("true", 900)
    assert "REQUEST_DEADLINE_SECONDS" not in streaming_env
    assert (buffered_env["REQUEST_DEADLINE_SECONDS"], buffered_timeout) == ("28", 30)

    configure_as_deployed(monkeypatch, buffered_env)
    model_clock[0] = 0
    response = handler(api_event("POST", "/v1/chat/completions", CHAT, key=API_KEY), LambdaContext(buffered_timeout))
    assert response["statusCode"] == 200, response["body"]
    cut_text, cut_finish, _ = answer_of(sse_events(response["body"]))
    cut_at = model_clock[0] * SECONDS_PER_TOKEN  # the model's time when the buffered answer stopped

    configure_as_deployed(monkeypatch, streaming_env)
    model_clock[0] = 0
    runtime_api = FakeRuntimeApi()
    runtime_api.start()
    client = RuntimeApiClient(runtime_api.address)
    try:
        function_deadline_ms = int((time.time() + streaming_timeout) * 1000)
        runtime_api.add_invocation(
            "inv-long", rest_event("POST", "/v1/chat/completions", CHAT, key=API_KEY), deadline_ms=function_deadline_ms
        )
        loop = threading.Thread(target=serve, args=(stream_handler, client), kwargs={"max_invocations": 1}, daemon=True)
        loop.start()
        streamed = runtime_api.wait_for_complete("inv-long", timeout=300)
        loop.join(10)
    finally:
        client.reset()
        runtime_api.stop()
    prelude, _, data = streamed.data.partition(b"\x00" * 8)
    assert json.loads(prelude)["statusCode"] == 200
    whole_text, whole_finish, whole_tokens = answer_of(sse_events(data))

    # Streamed: every token asked for, past the HTTP API's 30 s of the model's time, far inside the function's 900 s.
    assert (whole_tokens, whole_finish) == (MAX_TOKENS, "length")
    assert 30 * TOKENS_PER_SECOND < model_clock[0] <= MAX_TOKENS  # (a chunk of vLLM's may carry no text)
    # Buffered: stopped inside its 28 s with what the model had written by then, and told so ("length").
    assert 20 <= cut_at <= 28
    assert cut_finish == "length"
    assert whole_text.startswith(cut_text) and len(cut_text) < len(whole_text)
