"""A long generation stops at the deadline with what it has (finish_reason "length"), never a gateway 503."""

from __future__ import annotations

import json
import time

import pytest

from openai_proxy import aws, deadline
from openai_proxy.handler import handler
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import api_event, body_of, chat, sse_events, streamed_text

WORDS = [f" word{i}" for i in range(200)]
FULL_TEXT = "".join(WORDS)


class LambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.aws_request_id = "lambda-req"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def ticking_clock(monkeypatch):
    """The deadline's clock moves one second every time it is read: generation 'takes' time."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(deadline, "now", lambda: float(next(ticks)))


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
def test_long_generation_is_cut_at_the_deadline(proxy_env, monkeypatch, ticking_clock, capsys, stream):
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "12")
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(WORDS))))

    response = handler(api_event("POST", "/v1/chat/completions", chat(stream=stream)))

    assert response["statusCode"] == 200
    if stream:
        events = sse_events(response)
        text, finish = streamed_text(events), events[-2]["choices"][0]["finish_reason"]
        assert events[-1] == "[DONE]"
    else:
        choice = body_of(response)["choices"][0]
        text, finish = choice["message"]["content"], choice["finish_reason"]
    assert finish == "length"
    assert text
    assert FULL_TEXT.startswith(text)
    assert len(text) < len(FULL_TEXT)
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["cut_at_deadline"] is True


def test_generation_that_finishes_in_time_is_not_cut(proxy_env, monkeypatch, ticking_clock):
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "1000")
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(WORDS))))
    choice = body_of(handler(api_event("POST", "/v1/chat/completions", chat())))["choices"][0]
    assert choice["message"]["content"] == FULL_TEXT
    assert choice["finish_reason"] == "stop"


def test_stalled_stream_answers_before_the_deadline(proxy_env, monkeypatch):
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "20")
    stalled = StreamReply(one_part_per_line(vllm_chat_sse(WORDS)), hold_after=4)
    proxy_env.script(stalled)
    # Once the SageMaker client exists (its read timeout: the 20 s then left), 17 s of the deadline pass.
    shift = [0.0]
    monkeypatch.setattr(deadline, "now", lambda: time.monotonic() + shift[0])
    client_for = aws.sagemaker_runtime

    def client_then_time_passes(read_timeout: float):
        client = client_for(read_timeout)
        shift[0] = 17.0
        return client

    monkeypatch.setattr(aws, "sagemaker_runtime", client_then_time_passes)

    started = time.monotonic()
    response = handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    elapsed = time.monotonic() - started

    assert elapsed < 12  # cut 2.5 s in; the client's read timeout alone would have waited 20 s after the last part
    assert not stalled.release.is_set()
    events = sse_events(response)
    assert streamed_text(events) == " word0 word1 word2"  # the 4 parts sent: role, word0, word1, word2
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert events[-1] == "[DONE]"


def test_lambda_remaining_time_bounds_the_deadline(proxy_env, monkeypatch, capsys):
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "20")
    stalled = StreamReply(one_part_per_line(vllm_chat_sse(WORDS)), hold_after=2)
    proxy_env.script(stalled)

    started = time.monotonic()
    response = handler(api_event("POST", "/v1/chat/completions", chat()), LambdaContext(remaining_ms=1500))

    # Cut at the Lambda's 1.1 s, not the setting's 19.5 s: half the setting leaves room for a loaded machine.
    assert time.monotonic() - started < 10
    assert not stalled.release.is_set()  # the stream was still held: the proxy stopped waiting, not the model
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["cut_at_deadline"] is True
    choice = body_of(response)["choices"][0]
    assert choice["message"]["content"] == " word0"
    assert choice["finish_reason"] == "length"


def test_deadline_is_the_lesser_of_setting_and_context_minus_a_margin(monkeypatch):
    monkeypatch.setattr(deadline, "now", lambda: 100.0)
    assert deadline.Deadline.for_request(28, None).expires_at == pytest.approx(127.5)
    assert deadline.Deadline.for_request(28, LambdaContext(10_000)).expires_at == pytest.approx(109.5)
    assert deadline.Deadline.for_request(1, None).expires_at == pytest.approx(100.75)


@pytest.mark.parametrize("sent", [0, 1], ids=["nothing", "the-role-alone"])
def test_a_model_that_sends_no_token_before_the_deadline_is_a_504(proxy_env, sent):
    # SageMaker's headers came (the stream is open), then `sent` parts, then nothing: held until the fake stops.
    stalled = StreamReply(one_part_per_line(vllm_chat_sse(WORDS)), hold_after=sent)
    proxy_env.script(stalled)

    response = handler(api_event("POST", "/v1/chat/completions", chat()), LambdaContext(remaining_ms=1500))

    assert not stalled.release.is_set()  # the proxy stopped waiting, not the model
    assert response["statusCode"] == 504  # not 200 with empty content
    error = body_of(response)["error"]
    assert (error["code"], error["type"]) == ("timeout", "server_error")


def test_a_streamed_answer_without_a_token_before_the_deadline_ends_with_an_error_the_sdk_raises(
    proxy_env, local_proxy, monkeypatch
):
    import openai

    from tests.proxy.events import API_KEY

    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(WORDS)), hold_after=1))
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "1")  # the local server reads it per request
    client = openai.OpenAI(base_url=local_proxy, api_key=API_KEY, max_retries=0, timeout=30)

    stream = client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as failed:
        list(stream)  # before the fix: one empty chunk with finish_reason "length", no error

    assert failed.value.code == "timeout"
    assert "deadline" in failed.value.message
