"""Check an OpenAI request like OpenAI does, and keep only what the proxy understands."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from openai_proxy.config import Settings
from openai_proxy.contract import Dialect
from openai_proxy.errors import ApiError, invalid_request

ROLES = ("system", "developer", "user", "assistant", "tool")
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_STOP_SEQUENCES = 4
COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # OpenAI's documented default for /v1/completions, and vLLM's
TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls")


@dataclass(frozen=True)
class CompletionRequest:
    """A validated chat (`kind="chat"`) or text completion (`kind="text"`) request."""

    kind: str
    stream: bool
    max_tokens: int
    """The client's max_tokens cut to the proxy's cap; without one, the cap (chat) or 16 (completions)."""
    model: str = ""
    """The model asked for: the base model's public name or an adapter's (never one the API does not serve)."""
    max_tokens_is_ours: bool = False
    """The proxy chose max_tokens (none from the client, or more than the cap): when it does not fit
    beside the prompt, the answer gets the room left instead of a refusal."""
    include_usage: bool = False
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    messages: list[dict] = field(default_factory=list)
    prompt: str = ""
    echo: bool = False  # completions: the answer starts with the prompt
    extras: dict[str, Any] = field(default_factory=dict)  # forwarded in the openai dialect only

    @property
    def prompt_chars(self) -> int:
        if self.kind == "text":
            return len(self.prompt)
        return sum(len(message_text(m.get("content"))) for m in self.messages)


def parse_json_body(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
        problem = "We could not parse the JSON body of your request. The body must be a JSON object."
    else:
        problem = "The request body must be a JSON object."
    if not isinstance(data, dict):
        raise invalid_request(problem)
    return data


def validate_chat(data: dict, settings: Settings) -> CompletionRequest:
    model = _check_model(data, settings)
    messages = _messages(data.get("messages"), settings.dialect)
    extras = _openai_extras(data, settings.dialect, chat=True)
    _tool_fields(extras, settings)
    sampling = _sampling(data, settings, settings.max_output_tokens)
    # The deployment's own stops (a base model's chat template) come on top of the client's four.
    sampling["stop"] = tuple(dict.fromkeys(sampling["stop"] + settings.chat_stop_sequences))
    return CompletionRequest(kind="chat", model=model, messages=messages, extras=extras, **sampling)


def validate_completion(data: dict, settings: Settings) -> CompletionRequest:
    model = _check_model(data, settings)
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if prompt is None:
        raise invalid_request("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    if not isinstance(prompt, str):
        raise invalid_request("'prompt' must be a string (or a list holding one string).", "prompt")
    extras = _openai_extras(data, settings.dialect, chat=False)
    echo = data.get("echo")
    echo = False if echo is None else _boolean(echo, "echo")
    sampling = _sampling(data, settings, min(COMPLETIONS_DEFAULT_MAX_TOKENS, settings.max_output_tokens))
    return CompletionRequest(kind="text", model=model, prompt=prompt, echo=echo, extras=extras, **sampling)


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or its text parts joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _check_model(data: dict, settings: Settings) -> str:
    """The model the request is for: one the API serves (the base model when it names none)."""
    model = data.get("model")
    if model in (None, ""):
        return settings.served_model_name
    if not isinstance(model, str):
        raise invalid_request("'model' must be a string.", "model")
    if model not in settings.served_model_names:
        raise ApiError(
            404,
            f"The model `{model[:200]}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return model


def _messages(messages: Any, dialect: Dialect) -> list[dict]:
    if messages is None:
        raise invalid_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("'messages' must be a non-empty array.", "messages")
    return [_message(m, f"messages[{i}]", dialect) for i, m in enumerate(messages)]


def _message(message: Any, where: str, dialect: Dialect) -> dict:
    if not isinstance(message, dict):
        raise invalid_request(f"'{where}' must be an object.", where)
    role = message.get("role")
    if role not in ROLES:
        raise invalid_request(f"'{where}.role' must be one of {', '.join(ROLES)}.", f"{where}.role")
    if not dialect.openai and (role == "tool" or message.get("tool_calls")):
        raise _unsupported(f"{where} (tool calls and tool results)", dialect, f"{where}.role")
    content = message.get("content")
    if content is None:
        if role != "assistant":
            raise invalid_request(
                f"Missing required parameter: '{where}.content'.", f"{where}.content", "missing_required_parameter"
            )
    elif isinstance(content, list):
        _content_parts(content, f"{where}.content", dialect)
    elif not isinstance(content, str):
        raise invalid_request(f"'{where}.content' must be a string or an array of content parts.", f"{where}.content")
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        raise invalid_request(f"'{where}.name' must be a string.", f"{where}.name")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid_request(
            f"Missing required parameter: '{where}.tool_call_id'.",
            f"{where}.tool_call_id",
            "missing_required_parameter",
        )
    if message.get("tool_calls") is not None:
        _tool_calls(message["tool_calls"], f"{where}.tool_calls")
    return {k: message.get(k) for k in MESSAGE_KEYS if message.get(k) is not None or k == "content"}


def _tool_calls(calls: Any, where: str) -> None:
    """An assistant's earlier tool calls, each as OpenAI (and vLLM's chat schema) require it: else vLLM
    falls back to its completions schema and answers about `prompt_embeds` instead (seen on vLLM 0.27.1)."""
    if not isinstance(calls, list):
        raise invalid_request(f"'{where}' must be an array.", where)
    for j, call in enumerate(calls):
        here = f"{where}[{j}]"
        if not isinstance(call, dict):
            raise invalid_request(
                f"'{here}' must be an object {{'id', 'type': 'function', 'function': {{'name', 'arguments'}}}}.", here
            )
        if not isinstance(call.get("id"), str):
            raise invalid_request(f"'{here}.id' must be a string.", f"{here}.id")
        if call.get("type") != "function":
            raise invalid_request(f"'{here}.type' must be 'function'.", f"{here}.type")
        function = call.get("function")
        if not isinstance(function, dict):
            message = f"'{here}.function' must be an object with 'name' and 'arguments'."
            raise invalid_request(message, f"{here}.function")
        if not isinstance(function.get("name"), str):
            raise invalid_request(f"'{here}.function.name' must be a string.", f"{here}.function.name")
        if not isinstance(function.get("arguments"), str):
            raise invalid_request(
                f"'{here}.function.arguments' must be a string (the arguments as JSON text).",
                f"{here}.function.arguments",
            )


def _content_parts(parts: list, where: str, dialect: Dialect) -> None:
    for j, part in enumerate(parts):
        here = f"{where}[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid_request(f"'{here}' must be an object with a 'type'.", here)
        if part["type"] == "text":
            if not isinstance(part.get("text"), str):
                raise invalid_request(f"'{here}.text' must be a string.", f"{here}.text")
        elif not dialect.openai:
            raise _unsupported(f"'{part['type'][:40]}' content parts ({here})", dialect, f"{here}.type")


def _sampling(data: dict, settings: Settings, default_max_tokens: int) -> dict[str, Any]:
    stream = data.get("stream")
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise invalid_request("'stream' must be a boolean.", "stream")
    include_usage = False
    options = data.get("stream_options")
    if options is not None:
        if not stream:
            raise invalid_request(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options"
            )
        if not isinstance(options, dict):
            raise invalid_request("'stream_options' must be an object.", "stream_options")
        include_usage = options.get("include_usage", False)
        if not isinstance(include_usage, bool):
            raise invalid_request("'stream_options.include_usage' must be a boolean.", "stream_options.include_usage")
    n = data.get("n")
    if n is not None and _as_int(n) != 1:
        raise invalid_request("'n' must be 1: this API returns one choice per request.", "n")
    max_tokens, ours = _max_tokens(data, settings.max_output_tokens, default_max_tokens)
    return {
        "stream": stream,
        "include_usage": include_usage,
        "max_tokens": max_tokens,
        "max_tokens_is_ours": ours,
        "temperature": _number(data, "temperature", 0, 2),
        "top_p": _number(data, "top_p", 0, 1),
        "stop": _stop(data.get("stop")),
    }


def _max_tokens(data: dict, cap: int, default: int) -> tuple[int, bool]:
    """(max_tokens, whether the proxy chose it rather than the client)."""
    name = "max_completion_tokens" if data.get("max_completion_tokens") is not None else "max_tokens"
    value = data.get(name)
    if value is None:
        return default, True
    value = _as_int(value)
    if value is None or value < 1:
        raise invalid_request(f"'{name}' must be a positive integer.", name)
    return min(value, cap), value > cap


def _stop(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise invalid_request("'stop' must be a string or an array of strings.", "stop")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise invalid_request(f"'stop' may hold at most {MAX_STOP_SEQUENCES} sequences.", "stop")
    return tuple(s for s in stop if s)


def _openai_extras(data: dict, dialect: Dialect, *, chat: bool) -> dict[str, Any]:
    """Validate the fields only the openai dialect forwards; reject them (unless no-ops) elsewhere."""
    extras: dict[str, Any] = {}
    for name, check in (_CHAT_EXTRAS if chat else _TEXT_EXTRAS).items():
        value = data.get(name)
        if value is None:
            continue
        value = check(value, name)
        if not dialect.openai and name not in TOOL_FIELDS:  # tools: see _tool_fields
            if value in _NO_OPS.get(name, ()):
                continue
            raise _unsupported(f"'{name}'", dialect, name)
        extras[name] = value
    if chat and "top_logprobs" in extras and not extras.get("logprobs"):
        raise invalid_request("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs")
    return extras


def _tool_fields(extras: dict[str, Any], settings: Settings) -> None:
    """Keep the tool fields only for a container that parses tool calls; else answer as plain chat.

    Without a parser vLLM refuses `tools` outright (absent/"auto" tool_choice included), although a
    text answer is what "auto" and "none" allow: those become plain chat. "required" or a named
    function cannot be honoured without one.
    """
    choice = extras.get("tool_choice")
    if not extras.get("tools"):  # absent or []: nothing to call (vLLM refuses an empty list)
        if choice not in (None, "none", "auto"):
            raise invalid_request("'tool_choice' is only allowed when 'tools' are specified.", "tool_choice")
    elif settings.dialect.openai and settings.tool_call_parser:
        return
    elif choice not in (None, "none", "auto"):
        wanted = "'required'" if choice == "required" else f"function {choice['function']['name'][:64]!r}"
        if not settings.dialect.openai:
            raise _unsupported(f"tool_choice {wanted}", settings.dialect, "tool_choice")
        raise invalid_request(
            f"tool_choice {wanted} needs the model's tool calls parsed, and this deployment has no tool-call "
            "parser: set the stack's `toolCallParser` config (e.g. `hermes` for Qwen2.5) to use tools.",
            "tool_choice",
            "unsupported_value",
        )
    for name in TOOL_FIELDS:
        extras.pop(name, None)


def _unsupported(what: str, dialect: Dialect, param: str) -> ApiError:
    return invalid_request(
        f"{what} is not supported by this model's backend (dialect {dialect.name!r}): it generates plain text only.",
        param,
        "unsupported_parameter",
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value: Any) -> int | None:
    """An integer field's value: an int, or a whole-number float (JSON clients send 5.0); else None."""
    if _is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _is_number(value: Any) -> bool:
    """A JSON number: any integer, however long (compared exactly, never turned into a float, which
    overflows past 1e308), or a finite float."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _number(data: dict, name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if not _is_number(value) or value > high or value < low:
        raise invalid_request(f"'{name}' must be a number in [{low}, {high}].", name)
    return value


def _ranged(low: float, high: float, *, integer: bool = False):
    def check(value: Any, name: str) -> Any:
        if integer:
            value = _as_int(value)
        if not _is_number(value) or not low <= value <= high:
            raise invalid_request(
                f"'{name}' must be {'an integer' if integer else 'a number'} in [{low}, {high}].", name
            )
        return value

    return check


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_request(f"'{name}' must be a boolean.", name)
    return value


INT64 = (-(2**63), 2**63 - 1)  # vLLM's bounds for `seed` (torch.long); outside them its chat schema fails


def _seed(value: Any, name: str) -> int:
    number = _as_int(value)
    if number is None or not INT64[0] <= number <= INT64[1]:
        raise invalid_request(f"'{name}' must be an integer in [{INT64[0]}, {INT64[1]}].", name)
    return number


def _tools(value: Any, name: str) -> list:
    if not isinstance(value, list):
        raise invalid_request("'tools' must be an array.", name)
    for i, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise invalid_request(f"'tools[{i}]' must be {{'type': 'function', 'function': {{...}}}}.", f"tools[{i}]")
        if not isinstance(function.get("name"), str) or not TOOL_NAME.match(function["name"]):
            raise invalid_request(
                f"'tools[{i}].function.name' must be 1-64 letters, digits, '_' or '-'.", f"tools[{i}].function.name"
            )
        if function.get("parameters") is not None and not isinstance(function["parameters"], dict):
            raise invalid_request(
                f"'tools[{i}].function.parameters' must be an object.", f"tools[{i}].function.parameters"
            )
    return value


def _tool_choice(value: Any, name: str) -> Any:
    if value in ("none", "auto", "required"):
        return value
    function = value.get("function") if isinstance(value, dict) else None
    if isinstance(function, dict) and value.get("type") == "function" and isinstance(function.get("name"), str):
        return value
    raise invalid_request(
        "'tool_choice' must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}.", name
    )


def _response_format(value: Any, name: str) -> dict:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        return value
    if kind == "json_schema":
        where = f"{name}.json_schema"
        schema = value.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise invalid_request(f"'{where}' must be an object with a 'name'.", where)
        if schema.get("strict") is not None and not isinstance(schema["strict"], bool):
            raise invalid_request(f"'{where}.strict' must be a boolean.", f"{where}.strict")
        if schema.get("schema") is not None and not isinstance(schema["schema"], dict):
            raise invalid_request(f"'{where}.schema' must be an object (a JSON Schema).", f"{where}.schema")
        return value
    raise invalid_request("'response_format.type' must be 'text', 'json_object' or 'json_schema'.", f"{name}.type")


def _logit_bias(value: Any, name: str) -> dict:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k.isdigit() and _is_number(v) and -100 <= v <= 100 for k, v in value.items()
    ):
        raise invalid_request("'logit_bias' must map token ids to numbers in [-100, 100].", name)
    return value


_CHAT_EXTRAS = {
    "tools": _tools,
    "tool_choice": _tool_choice,
    "parallel_tool_calls": _boolean,
    "response_format": _response_format,
    "seed": _seed,
    "presence_penalty": _ranged(-2, 2),
    "frequency_penalty": _ranged(-2, 2),
    "logit_bias": _logit_bias,
    "logprobs": _boolean,
    "top_logprobs": _ranged(0, 20, integer=True),
}
_TEXT_EXTRAS = {
    "seed": _seed,
    "presence_penalty": _ranged(-2, 2),
    "frequency_penalty": _ranged(-2, 2),
    "logit_bias": _logit_bias,
    "logprobs": _ranged(0, 5, integer=True),
}
# Values that change nothing: accepted (and dropped) by the text dialects.
_NO_OPS: dict[str, tuple] = {
    "response_format": ({"type": "text"},),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "logprobs": (False, 0),
    "top_logprobs": (0,),
}
