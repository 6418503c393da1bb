"""STOP_SEQUENCES (config chatStopSequences): stops the deployment adds to every chat request."""

from __future__ import annotations

import pytest

from openai_proxy.config import load_settings
from openai_proxy.contract import ENV
from openai_proxy.handler import handler
from sagemaker_llm_local.container_formats import tgi_token_sse, vllm_chat_sse
from sagemaker_llm_local.replies import StreamReply
from tests.proxy.events import api_event, body_of, chat, sse_events, streamed_text

TURN = "\nUser:"


def post(body: dict, path: str = "/v1/chat/completions") -> dict:
    return handler(api_event("POST", path, body))


def test_openai_dialect_sends_the_deployments_stops_with_the_clients(proxy_env, monkeypatch):
    monkeypatch.setenv(ENV.stop_sequences, '["\\nUser:", "###"]')

    assert post(chat())["statusCode"] == 200
    assert proxy_env.requests[-1].json["stop"] == [TURN, "###"]
    # The client's own four are still allowed; duplicates go once.
    assert post(chat(stop=["a", "b", "###", "c"]))["statusCode"] == 200
    assert proxy_env.requests[-1].json["stop"] == ["a", "b", "###", "c", TURN]


def test_the_clients_limit_of_four_is_checked_on_its_own_list(proxy_env, monkeypatch):
    monkeypatch.setenv(ENV.stop_sequences, '["\\nUser:"]')
    error = body_of(post(chat(stop=["a", "b", "c", "d", "e"])))["error"]
    assert error["param"] == "stop"


def test_completions_get_no_chat_stops(proxy_env, monkeypatch):
    monkeypatch.setenv(ENV.stop_sequences, '["\\nUser:"]')
    assert post({"prompt": "Once"}, "/v1/completions")["statusCode"] == 200
    assert "stop" not in proxy_env.requests[-1].json


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_model_stops_at_the_next_turn(proxy_env, monkeypatch, stream):
    # What the dev stack's distilgpt2 does: it writes the user's next turn itself. vLLM honours the
    # stop it is sent; here the fake plays a vLLM that stopped there.
    monkeypatch.setenv(ENV.stop_sequences, '["\\nUser:"]')
    proxy_env.script(StreamReply([vllm_chat_sse(["Fine,", " thanks."])]))
    response = post(chat(stream=stream))
    text = streamed_text(sse_events(response)) if stream else body_of(response)["choices"][0]["message"]["content"]
    assert text == "Fine, thanks."
    assert proxy_env.requests[-1].json["stop"] == [TURN]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_text_dialects_trim_at_the_deployments_stops(proxy_env, monkeypatch, stream):
    monkeypatch.setenv("BACKEND_DIALECT", "tgi")
    monkeypatch.setenv(ENV.stop_sequences, '["\\nHuman:"]')
    # A container that streams past the stop (it may not have been told: TGI takes four).
    proxy_env.script(StreamReply([tgi_token_sse(["Fine.", "\nHu", "man:", " and", " more"])]))

    response = post(chat(stream=stream, stop=["a1", "a2", "a3", "a4"]))

    text = streamed_text(sse_events(response)) if stream else body_of(response)["choices"][0]["message"]["content"]
    assert text == "Fine."
    assert len(proxy_env.requests[-1].json["parameters"]["stop"]) == 4  # TGI refuses more


@pytest.mark.parametrize("raw", ["\\nUser:", '"\\nUser:"', '["ok", 3]', '[""]', "{}"])
def test_a_bad_value_is_a_settings_problem_shown_by_health(proxy_env, monkeypatch, raw):
    monkeypatch.setenv(ENV.stop_sequences, raw)
    assert any(ENV.stop_sequences in problem for problem in load_settings().problems)
    health = handler(api_event("GET", "/health", key=None))
    assert health["statusCode"] == 503
    assert any(ENV.stop_sequences in problem for problem in body_of(health)["problems"])
    assert body_of(post(chat()))["error"]["code"] == "proxy_not_configured"


def test_an_empty_value_adds_nothing():
    assert load_settings({ENV.stop_sequences: "", "SAGEMAKER_ENDPOINT_NAME": "e"}).chat_stop_sequences == ()
    assert load_settings({ENV.stop_sequences: "[]", "SAGEMAKER_ENDPOINT_NAME": "e"}).chat_stop_sequences == ()
