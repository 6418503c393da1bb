"""A tool call cut at max_tokens, from a vLLM 0.27.1 that parses tool calls (issue 15, item 8).

vLLM says `finish_reason: "tool_calls"` whenever a call was streamed, even when max_tokens cut its
arguments short (vllm/entrypoints/openai/chat_completion/serving.py: `if tools_streamed[i] and not
tool_choice_function_name: finish_reason_ = "tool_calls"`). The proxy must say "length", as OpenAI does.

The tiny model never writes a tool call by itself: a grammar (`structured_outputs.regex`, which the
proxy does not forward) makes it write one in the hermes format; the engine's own bytes are then
played to the proxy through the SageMaker runtime emulator.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from openai_proxy.handler import handler
from sagemaker_llm_local.processes import answers
from sagemaker_llm_local.replies import StreamReply
from tests.engine.conftest import sse_events
from tests.engine.fixtures import API_KEY, MODEL_ID, running_engine, tiny_container
from tests.engine.test_tools_and_limits import post
from tests.proxy.events import api_event

pytestmark = pytest.mark.engine

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
# The hermes parser's format, the city 30 letters long: the call's arguments need about 70 tokens.
HERMES_CALL = '<tool_call>\\n\\{"name": "get_weather", "arguments": \\{"city": "[a-z]{30}"\\}\\}\\n</tool_call>'
CUT_AT = 55  # tokens: the name and the start of the arguments
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def parsing_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """A second vLLM, with the DLC's SM_VLLM_ENABLE_AUTO_TOOL_CHOICE and SM_VLLM_TOOL_CALL_PARSER=hermes
    (`TOOL_ENGINE_URL` uses one already running)."""
    running = os.environ.get("TOOL_ENGINE_URL")
    if running:
        assert answers(f"{running}/ping"), f"TOOL_ENGINE_URL={running} does not answer /ping"
        yield running
        return
    venv: Path = request.getfixturevalue("engine_venv")
    model: Path = request.getfixturevalue("tiny_model")
    container = tiny_container(model, SM_VLLM_ENABLE_AUTO_TOOL_CHOICE="true", SM_VLLM_TOOL_CALL_PARSER="hermes")
    with running_engine(venv, container, "vllm-tool-parser.log") as url:
        yield url


@pytest.fixture(scope="module")
def cut_call_stream(parsing_engine: str) -> bytes:
    """What the engine streams for a tool call cut at CUT_AT tokens, as the proxy asks (stream, usage)."""
    body = {
        "model": MODEL_ID,
        "messages": QUESTION,
        "tools": TOOLS,
        "max_tokens": CUT_AT,
        "stream": True,
        "stream_options": {"include_usage": True},
        "structured_outputs": {"regex": HERMES_CALL},
    }
    status, raw = post(parsing_engine, "/invocations", body)
    assert status == 200, raw
    return raw


def test_the_engine_says_tool_calls_for_a_call_cut_at_max_tokens(cut_call_stream):
    events = [e for e in sse_events(cut_call_stream) if e != "[DONE]"]

    arguments = "".join(
        call["function"].get("arguments", "")
        for e in events
        if e["choices"]
        for call in e["choices"][0]["delta"].get("tool_calls") or []
    )
    finish = [e["choices"][0]["finish_reason"] for e in events if e["choices"] and e["choices"][0]["finish_reason"]]
    assert finish == ["tool_calls"]
    assert arguments.startswith('{"city": "')
    with pytest.raises(ValueError):
        json.loads(arguments)
    assert events[-1]["usage"]["completion_tokens"] == CUT_AT


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_the_proxy_says_length_for_that_answer(engine_proxy_env, monkeypatch, cut_call_stream, stream):
    monkeypatch.setenv("TOOL_CALL_PARSER", "hermes")
    engine_proxy_env.script(StreamReply([cut_call_stream]))
    body = {"model": MODEL_ID, "messages": QUESTION, "tools": TOOLS, "max_tokens": CUT_AT, "stream": stream}

    response = handler(api_event("POST", "/v1/chat/completions", body, key=API_KEY))

    assert response["statusCode"] == 200, response["body"]
    if stream:
        events = [e for e in sse_events(response["body"]) if e != "[DONE]"]
        finish = events[-1]["choices"][0]["finish_reason"]
        named = events[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"]
    else:
        choice = json.loads(response["body"])["choices"][0]
        finish, named = choice["finish_reason"], choice["message"]["tool_calls"][0]["function"]["name"]
    assert (finish, named) == ("length", "get_weather")
