"""OpenAI request → the container's request body, for each backend dialect. Pure functions."""

from __future__ import annotations

from typing import Any

from openai_proxy.validation import CompletionRequest, message_text

# Stops the model from writing the user's next turn itself (text dialects, chat only).
TURN_STOP = "\nUser:"
MAX_CONTAINER_STOPS = 4  # TGI refuses more than 4 stop sequences by default


def container_request(request: CompletionRequest, dialect: str, served_model: str) -> dict[str, Any]:
    """The JSON body sent to the endpoint's /invocations (always asking for a stream)."""
    if dialect == "openai":
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
    if request.max_tokens_given:
        body["max_tokens"] = request.max_tokens
    # Else none: vLLM then allows what the context leaves (a fixed cap would make a long chat fail
    # with "maximum context length" well before the context is full); read_generation applies the cap.
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    body.update(request.extras)
    return body


def text_generation_request(request: CompletionRequest, dialect: str) -> dict[str, Any]:
    """`{"inputs", "parameters", "stream"}` for LMI (DJL) and TGI text-generation containers."""
    stops = list(request.stop)
    if request.kind == "chat" and len(stops) < MAX_CONTAINER_STOPS:
        stops.append(TURN_STOP)
    parameters: dict[str, Any] = {
        "max_new_tokens": request.max_tokens,
        "details": True,  # gives finish_reason and token counts
        "return_full_text": False,
    }
    if request.temperature == 0:
        parameters["do_sample"] = False  # OpenAI's temperature 0 means greedy
    elif request.temperature is not None:
        parameters["do_sample"] = True
        parameters["temperature"] = request.temperature
    if request.top_p is not None and request.top_p < 1:  # TGI requires top_p < 1
        parameters["top_p"] = request.top_p
    if stops:
        parameters["stop_sequences" if dialect == "lmi" else "stop"] = stops
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
