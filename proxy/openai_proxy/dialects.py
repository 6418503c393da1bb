"""OpenAI request → the container's request body, for each backend dialect. Pure functions."""

from __future__ import annotations

import re
from typing import Any

from openai_proxy.contract import Dialect
from openai_proxy.validation import CompletionRequest, message_text

# Stops the model from writing the user's next turn itself (text dialects, chat only).
TURN_STOP = "\nUser:"
MAX_CONTAINER_STOPS = 4  # TGI refuses more than 4 stop sequences by default
# TGI: "`inputs` tokens + `max_new_tokens` must be <= 2048. Given: 1990 `inputs` tokens and 256 `max_new_tokens`"
_TGI_OVER_CONTEXT = re.compile(r"must be <= (\d+)\. Given: (\d+) `inputs` tokens")


def container_request(request: CompletionRequest, dialect: Dialect, served_model: str) -> dict[str, Any]:
    """The JSON body sent to the endpoint's /invocations (always asking for a stream)."""
    if dialect.openai:
        return openai_request(request, served_model)
    return text_generation_request(request, dialect)


def openai_request(request: CompletionRequest, served_model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": served_model}
    if request.kind == "chat":
        body["messages"] = request.messages
    else:
        body["prompt"] = request.prompt
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}  # usage from the container, not estimated
    # Always sent, so vLLM itself stops at the cap and counts the tokens (routes retries a long chat
    # that leaves less room without it: vLLM then allows exactly the room left).
    body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p == 0:
        body["top_k"] = 1  # only the likeliest token, which is what top_p 0 means; vLLM wants top_p > 0
    elif request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.echo:
        body["echo"] = True
    body.update(request.extras)
    return body


def body_for_room_left(body: dict[str, Any], refusal: str) -> dict[str, Any] | None:
    """The body to send again when the container refused its max_tokens beside this prompt, or None.

    vLLM's chat without max_tokens allows exactly what the context leaves (less than the refused
    value; its completions default to 16 instead, and its message gives no exact prompt size when
    the prompt is long, so a completion is refused as OpenAI refuses it). TGI is told the room its
    own message names.
    """
    if "messages" in body and "max_tokens" in body:
        return {k: v for k, v in body.items() if k != "max_tokens"}
    parameters = body.get("parameters")
    found = _TGI_OVER_CONTEXT.search(refusal)
    if isinstance(parameters, dict) and found and int(found[1]) > int(found[2]):
        return {**body, "parameters": {**parameters, "max_new_tokens": int(found[1]) - int(found[2])}}
    return None


def text_generation_request(request: CompletionRequest, dialect: Dialect) -> dict[str, Any]:
    """`{"inputs", "parameters", "stream"}` for LMI (DJL) and TGI text-generation containers."""
    # The container is told what fits; generation's StopTrimmer applies every stop anyway.
    stops = list(dict.fromkeys([*request.stop, TURN_STOP] if request.kind == "chat" else request.stop))
    stops = stops[:MAX_CONTAINER_STOPS]
    parameters: dict[str, Any] = {
        "max_new_tokens": request.max_tokens,
        "details": True,  # gives finish_reason and token counts
        "return_full_text": False,
    }
    if request.temperature == 0 or request.top_p == 0:
        parameters["do_sample"] = False  # OpenAI's temperature 0 (or top_p 0) means greedy
    elif request.temperature is not None:
        parameters["do_sample"] = True
        parameters["temperature"] = request.temperature
    if request.top_p and request.top_p < 1:  # TGI requires 0 < top_p < 1
        parameters["top_p"] = request.top_p
    if stops:
        parameters[dialect.stop_parameter] = stops
    return {"inputs": rendered_prompt(request), "parameters": parameters, "stream": True}


def rendered_prompt(request: CompletionRequest) -> str:
    return render_prompt(request.messages) if request.kind == "chat" else request.prompt


def render_prompt(messages: list[dict]) -> str:
    """The generic chat template of the text dialects.

    System and developer messages first, as plain paragraphs; then each turn on its own line as
    `User: ...` or `Assistant: ...`; then the cue `Assistant:` for the model to answer.
    """
    system = [message_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    turns = [
        f"{'Assistant' if m.get('role') == 'assistant' else 'User'}: {message_text(m.get('content'))}"
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]
    head = "".join(f"{text}\n\n" for text in system if text)
    return head + "".join(f"{turn}\n" for turn in turns) + "Assistant:"
