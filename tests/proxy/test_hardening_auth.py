"""The API key from SSM when SSM fails or hangs: bounded in time, backed off, and closed on a cold start.

SSM is a fake on 127.0.0.1 reached by the real boto3 client (tests/fakes/ssm.py), so every call
counted here, retries included, went over the wire.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_proxy import auth, aws
from openai_proxy.handler import handler, stream_handler
from tests.fakes.ssm import FakeSsm
from tests.proxy.events import api_event, body_of

PARAMETER = "/sagemaker-llm/api-key"
CHAT = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def ssm(proxy_env, monkeypatch):
    """The proxy reading its key from the fake SSM; `ssm.clock` is auth's clock (seconds), moved by hand."""
    monkeypatch.delenv("API_KEY")
    monkeypatch.setenv("API_KEY_PARAMETER", PARAMETER)
    with FakeSsm({PARAMETER: "first-key"}) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", fake.url)
        clock = fake.clock = [1000.0]
        monkeypatch.setattr(auth, "now", lambda: clock[0])
        aws.forget_clients()
        yield fake
    aws.forget_clients()


def status(key: str, path: str = "/v1/models") -> int:
    return handler(api_event("GET", path, key=key))["statusCode"]


def test_after_a_failed_refresh_the_cached_key_serves_without_asking_ssm_until_the_backoff_ends(ssm):
    assert status("first-key") == 200
    assert len(ssm.calls) == 1

    ssm.mode = "fail"
    ssm.clock[0] += auth.KEY_TTL_SECONDS + 1  # the key is due for a re-read, and SSM fails it
    assert status("first-key") == 200
    after_failure = len(ssm.calls)
    assert 2 <= after_failure <= 4  # one read, with boto3's bounded retries

    for _ in range(20):  # every request of the back-off period, wrong keys included
        ssm.clock[0] += (auth.REFRESH_BACKOFF_SECONDS - 1) / 20
        assert status("first-key") == 200
        assert status("wrong-key") == 401
    assert len(ssm.calls) == after_failure

    ssm.mode = "ok"
    ssm.parameters[PARAMETER] = "rotated-key"
    ssm.clock[0] += 1  # the back-off is over: one read, which now succeeds
    assert status("rotated-key") == 200
    assert status("first-key") == 401
    assert len(ssm.calls) == after_failure + 1


def test_a_cold_start_with_ssm_failing_lets_no_request_in_and_does_not_hammer_ssm(ssm):
    ssm.mode = "fail"
    first = handler(api_event("POST", "/v1/chat/completions", CHAT, key="first-key"))
    assert first["statusCode"] == 503
    assert body_of(first)["error"]["code"] == "api_key_unavailable"
    assert first["headers"]["retry-after"] == "5"
    assert PARAMETER not in first["body"]
    reads = len(ssm.calls)
    assert 2 <= reads <= 4

    for key in ("first-key", "wrong-key", ""):  # within the retry period: refused at once, SSM left alone
        ssm.clock[0] += 1
        refused = handler(api_event("POST", "/v1/chat/completions", CHAT, key=key or None))
        assert refused["statusCode"] == (503 if key else 401)
    streamed = stream_handler(api_event("POST", "/v1/chat/completions", {**CHAT, "stream": True}, key="first-key"))
    assert streamed.status == 503
    assert len(ssm.calls) == reads
    ssm.clock[0] += auth.COLD_RETRY_SECONDS
    assert status("first-key") == 503  # asked again, failed again: still closed
    assert len(ssm.calls) > reads

    ssm.mode = "ok"
    ssm.clock[0] += auth.COLD_RETRY_SECONDS
    assert status("first-key") == 200


def test_the_model_is_never_invoked_while_the_key_cannot_be_read(ssm, sagemaker):
    ssm.mode = "fail"
    for _ in range(3):
        ssm.clock[0] += auth.COLD_RETRY_SECONDS
        response = handler(api_event("POST", "/v1/chat/completions", CHAT, key="first-key"))
        assert response["statusCode"] == 503
    assert sagemaker.requests == []


@pytest.mark.parametrize("entry", [handler, stream_handler])
def test_a_hanging_ssm_costs_a_request_only_a_share_of_its_deadline(ssm, monkeypatch, entry):
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "3")
    ssm.mode = "hang"
    started = time.monotonic()
    response = entry(api_event("GET", "/v1/models", key="first-key"))
    elapsed = time.monotonic() - started

    status_code = response["statusCode"] if isinstance(response, dict) else response.status
    assert status_code == 503
    # 2.5 s of deadline: a third of it, rounded down to 0.5 s, is one attempt of 0.5 s.
    assert elapsed < 2.5
    assert len(ssm.calls) == 1


def test_the_ssm_client_follows_the_budget_it_was_made_for(ssm):
    client = aws.ssm(2.0)
    connect, read, attempts = aws.ssm_limits(2.0)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (connect, read)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": attempts}
    assert aws.ssm(2.2) is client  # budgets share clients by half seconds


@settings(deadline=None, max_examples=300)
@given(st.floats(min_value=aws.SSM_MIN_SECONDS, max_value=1000, allow_nan=False))
def test_ssm_limits_fit_the_budget_in_the_worst_case(budget):
    connect, read, attempts = aws.ssm_limits(budget)
    backoff = 2 ** (attempts - 1) - 1  # standard mode sleeps at most 1 s, then 2 s
    assert 1 <= attempts <= 3
    assert 0 < connect <= 1.0
    assert read > 0
    assert attempts * (connect + read) + backoff <= budget + 1e-9
    assert connect + read <= aws.SSM_ATTEMPT_SECONDS + 1e-9


def test_a_slow_key_read_does_not_hold_up_requests_with_the_cached_key(ssm):
    # The local server is threaded: a wrong key's early re-read must not stall everyone else's requests.
    assert status("first-key") == 200
    ssm.mode = "hang"
    ssm.clock[0] += auth.MISMATCH_RECHECK_SECONDS + 1
    reader = threading.Thread(target=status, args=("maybe-a-rotated-key",))
    reader.start()
    waited = time.monotonic()
    while len(ssm.calls) < 2 and time.monotonic() - waited < 10:
        time.sleep(0.01)  # until the re-read is on the wire
    try:
        assert status("first-key") == 200
        assert len(ssm.calls) == 2  # answered while the re-read's first attempt still hangs, not after it gave up
    finally:
        ssm.mode = "ok"
        ssm._release.set()
        reader.join(15)
