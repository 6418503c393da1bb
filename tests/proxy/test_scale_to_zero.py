"""A model scaled to zero: the proxy invokes its inference component, says the model is waking up,
and on the streaming API waits for it with keep-alives instead of failing the chat."""

from __future__ import annotations

import gc
import json
import weakref
from functools import partial

import pytest

from openai_proxy import aws, routes, waking
from openai_proxy import deadline as deadline_module
from openai_proxy.deadline import Deadline
from openai_proxy.errors import ApiError
from openai_proxy.handler import handler
from sagemaker_llm_local.replies import ErrorReply
from tests.proxy.events import MODEL_ID, api_event

COMPONENT = "sagemaker-llm-dev-model"
HELLO = [{"role": "user", "content": "Hello sleepy model"}]
COMPONENT_HEADER = "x-amzn-sagemaker-inference-component"


@pytest.fixture
def component_env(proxy_env, monkeypatch):
    monkeypatch.setenv("INFERENCE_COMPONENT_NAME", COMPONENT)
    return proxy_env


@pytest.fixture
def streaming_env(component_env, monkeypatch):
    """The REST API with response streaming, and a wait schedule of milliseconds instead of seconds."""
    monkeypatch.setenv("RESPONSE_STREAMING", "true")
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "900")
    monkeypatch.setattr(waking, "RETRY_SCHEDULE", (0.01, 0.02))
    monkeypatch.setattr(waking, "KEEPALIVE_SECONDS", 0.01)
    return component_env


def _chat(**extra) -> dict:
    return api_event("POST", "/v1/chat/completions", {"model": MODEL_ID, "messages": HELLO, **extra})


def test_every_invocation_names_the_inference_component(component_env):
    assert handler(_chat())["statusCode"] == 200
    assert handler(_chat(stream=True))["statusCode"] == 200
    assert [r.headers.get(COMPONENT_HEADER) for r in component_env.requests] == [COMPONENT, COMPONENT]


def test_without_a_component_the_endpoint_is_invoked_alone(proxy_env):
    assert handler(_chat())["statusCode"] == 200
    assert COMPONENT_HEADER not in proxy_env.requests[-1].headers


@pytest.mark.parametrize("stream", [False, True])
def test_no_capacity_is_a_503_saying_the_model_is_waking_up(component_env, stream):
    component_env.script(ErrorReply.no_capacity())
    response = handler(_chat(stream=stream))
    error = json.loads(response["body"])["error"]
    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "60"
    assert error["code"] == "model_waking_up"
    assert "starting" in error["message"] and "minutes" in error["message"]
    assert "UpdateInferenceComponentRuntimeConfig" not in error["message"]  # AWS's advice is for the operator
    assert len(component_env.requests) == 1  # the buffered API (30 s) does not wait for minutes


def test_a_streamed_chat_waits_for_the_model_with_keepalives_then_gets_the_answer(streaming_env, local_proxy):
    import openai

    streaming_env.script(ErrorReply.no_capacity(), ErrorReply.no_capacity(), ErrorReply.no_capacity())
    client = openai.OpenAI(base_url=local_proxy, api_key="test-key-0123456789", max_retries=0, timeout=30)
    stream = client.chat.completions.create(model=MODEL_ID, messages=HELLO, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert "You said: Hello sleepy model" in text
    assert len(streaming_env.requests) == 4  # three times no capacity, then the answer
    assert {r.headers.get(COMPONENT_HEADER) for r in streaming_env.requests} == {COMPONENT}


def test_the_waiting_stream_starts_with_a_keepalive_comment(streaming_env, local_proxy):
    import http.client
    from urllib.parse import urlsplit

    streaming_env.script(ErrorReply.no_capacity())
    url = urlsplit(local_proxy)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = json.dumps({"model": MODEL_ID, "messages": HELLO, "stream": True})
    headers = {"Authorization": "Bearer test-key-0123456789", "Content-Type": "application/json"}
    connection.request("POST", f"{url.path}/chat/completions", body, headers)
    response = connection.getresponse()
    data = response.read()
    assert response.status == 200
    assert data.startswith(b": waking\n\n")
    assert data.endswith(b"data: [DONE]\n\n")


def test_a_plain_chat_on_the_streaming_api_is_told_to_retry_instead_of_waiting(streaming_env):
    streaming_env.script(ErrorReply.no_capacity())
    response = handler(_chat())
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "model_waking_up"


def test_another_failure_while_waiting_ends_the_stream_with_that_error(streaming_env):
    streaming_env.script(ErrorReply.no_capacity(), ErrorReply.internal_failure())
    body = handler(_chat(stream=True))["body"]
    events = [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: ")]
    assert body.startswith(": waking\n\n")
    assert events[-1]["error"]["code"] == "upstream_error"
    assert "[DONE]" not in body


class _Clock:
    """deadline.now and time.sleep on one fake clock: waiting minutes takes no time."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_waiting_gives_up_with_time_left_to_answer_and_says_so(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(deadline_module, "now", clock.now)
    deadline = Deadline(clock.t + 900)
    attempts = []

    def still_asleep() -> None:
        attempts.append(clock.t)
        raise waking.model_waking_up()

    def never_streamed(parts: object) -> list[bytes]:
        raise AssertionError("the model never answered")

    chunks = list(
        waking.stream_when_awake(
            still_asleep, never_streamed, deadline, lambda e: f"gave up: {e.code}".encode(), sleep=clock.sleep
        )
    )
    assert chunks[-1] == b"gave up: model_waking_up"
    assert set(chunks[:-1]) == {waking.KEEPALIVE}
    assert deadline.remaining() >= waking.MIN_ANSWER_SECONDS  # stopped waiting while an answer still fit
    assert max(clock.slept) <= waking.KEEPALIVE_SECONDS  # a keep-alive at least this often
    assert 20 <= len(attempts) <= 40  # back-off: every 30 s at most, not a tight loop


def test_a_model_that_wakes_is_streamed_after_the_keepalives(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(deadline_module, "now", clock.now)
    replies: list[object] = [waking.model_waking_up(), waking.model_waking_up(), ["Hello", " there"]]

    def open_parts() -> object:
        reply = replies.pop(0)
        if isinstance(reply, ApiError):
            raise reply
        return reply

    chunks = list(
        waking.stream_when_awake(
            open_parts,
            lambda parts: (p.encode() for p in parts),
            Deadline(clock.t + 900),
            lambda e: b"error",
            sleep=clock.sleep,
        )
    )
    assert chunks[0] == waking.KEEPALIVE
    assert chunks[-2:] == [b"Hello", b" there"]
    assert clock.t - 1000.0 == sum(waking.RETRY_SCHEDULE[:3])  # waited 5 + 10 + 20 s before the third try


@pytest.mark.engine
def test_the_real_engine_answers_a_streamed_chat_through_the_component_after_it_wakes(engine_proxy_env, monkeypatch):
    from tests.engine.fixtures import API_KEY as ENGINE_KEY
    from tests.engine.fixtures import MODEL_ID as ENGINE_MODEL

    monkeypatch.setenv("INFERENCE_COMPONENT_NAME", COMPONENT)
    monkeypatch.setenv("RESPONSE_STREAMING", "true")
    monkeypatch.setattr(waking, "RETRY_SCHEDULE", (0.01,))
    engine_proxy_env.script(ErrorReply.no_capacity())  # asleep once, then the relay answers with vLLM
    chat = {"model": ENGINE_MODEL, "messages": HELLO, "max_tokens": 6, "stream": True}

    body = handler(api_event("POST", "/v1/chat/completions", chat, key=ENGINE_KEY))["body"]

    assert body.startswith(": waking\n\n") and body.endswith("data: [DONE]\n\n")
    chunks = [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]).strip()
    assert [r.headers.get(COMPONENT_HEADER) for r in engine_proxy_env.requests] == [COMPONENT, COMPONENT]


def test_waiting_for_the_model_keeps_a_few_sagemaker_clients_not_one_per_attempt(streaming_env, monkeypatch):
    # Each attempt asks for a client whose read timeout is the time then left: a new one every time.
    clock = _Clock()
    monkeypatch.setattr(deadline_module, "now", clock.now)
    monkeypatch.setattr(waking, "RETRY_SCHEDULE", (7.0,))
    monkeypatch.setattr(routes, "stream_when_awake", partial(waking.stream_when_awake, sleep=clock.sleep))
    made: list[weakref.ref] = []
    make_client = aws.boto3.client

    def client(*args: object, **kwargs: object) -> object:
        made_client = make_client(*args, **kwargs)
        made.append(weakref.ref(made_client))
        return made_client

    monkeypatch.setattr(aws.boto3, "client", client)
    streaming_env.script(*[ErrorReply.no_capacity() for _ in range(30)])

    body = handler(_chat(stream=True))["body"]

    assert body.endswith("data: [DONE]\n\n")
    assert len(streaming_env.requests) == len(made) == 31  # asleep 30 times, 7 s apart, then the answer
    gc.collect()
    alive = [ref for ref in made if ref() is not None]
    assert len(alive) <= aws.MAX_CLIENTS_PER_SERVICE  # about 127 KB each: 900 of them in 15 minutes were 110 MB
