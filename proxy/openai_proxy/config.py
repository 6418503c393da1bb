"""The proxy's settings, read from its environment (contract.ENV, docs/design.md "Proxy environment"),
checked once per request."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from openai_proxy.contract import (
    BUFFERED_DEADLINE_SECONDS,
    DIALECTS,
    ENV,
    OPENAI,
    STREAMING_DEADLINE_SECONDS,
    Dialect,
)

DEFAULT_MAX_OUTPUT_TOKENS = 1024
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's own payload limit; the gateway allows 10 MB


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    served_model_name: str
    """The public model id: what /v1/models lists, what `model` must name, what vLLM is asked for."""
    dialect: Dialect
    api_key_parameter: str | None
    api_key: str | None
    auth_disabled: bool
    max_output_tokens: int
    deadline_seconds: float
    response_streaming: bool = False
    inference_component_name: str = ""  # with component hosting: the base model's component on the endpoint
    adapters: Mapping[str, str] = field(default_factory=dict)
    """Public model name of each LoRA adapter → the adapter inference component that serves it."""
    tool_call_parser: str = ""
    """The container parses tool calls (vLLM --tool-call-parser); empty: tools are not forwarded."""
    chat_stop_sequences: tuple[str, ...] = ()
    """Stops added to every chat request (a base model's chat template), besides the client's."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (`*`: any); empty: no CORS (openai_proxy/cors.py)."""
    problems: tuple[str, ...] = field(default=())

    @property
    def served_model_names(self) -> tuple[str, ...]:
        """Every model the API serves: the base model, then each adapter."""
        return (self.served_model_name, *self.adapters)

    def component_for(self, model: str) -> str:
        """The inference component to invoke for `model` (an adapter's, else the base's; "" for none)."""
        return self.adapters.get(model, self.inference_component_name)

    @property
    def auth_mode(self) -> str:
        if self.api_key_parameter:
            return "ssm"
        if self.api_key:
            return "env"
        return "disabled" if self.auth_disabled else "missing"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; never raises: anything wrong is listed in `problems` (shown by /health)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    endpoint = env.get(ENV.endpoint_name, "").strip()
    if not endpoint:
        problems.append(f"{ENV.endpoint_name} is not set")
    # The alias: MODEL_ID was this variable's name before it said what it holds.
    served = env.get(ENV.served_model_name, "").strip() or env.get(ENV.served_model_name_alias, "").strip()

    dialect_name = env.get(ENV.dialect, "").strip().lower() or OPENAI.name
    dialect = DIALECTS.get(dialect_name, OPENAI)
    if dialect_name not in DIALECTS:
        problems.append(f"{ENV.dialect} must be one of {', '.join(DIALECTS)}, not {dialect_name!r}")

    auth_disabled = _flag(env, ENV.auth_disabled, problems)
    parameter = env.get(ENV.api_key_parameter, "").strip() or None
    api_key = env.get(ENV.api_key) or None
    if not parameter and not api_key and not auth_disabled:
        problems.append(
            f"no API key configured: set {ENV.api_key_parameter} or {ENV.api_key} "
            f"({ENV.auth_disabled}=true for local tests)"
        )
    streaming = _flag(env, ENV.response_streaming, problems)

    max_tokens = _positive(env, ENV.max_output_tokens, DEFAULT_MAX_OUTPUT_TOKENS, int, problems)
    # Either way the Lambda's remaining time caps it (deadline.Deadline.for_request).
    default_deadline = STREAMING_DEADLINE_SECONDS if streaming else BUFFERED_DEADLINE_SECONDS
    deadline = _positive(env, ENV.deadline_seconds, default_deadline, float, problems)
    component = env.get(ENV.inference_component_name, "").strip()
    adapters = _adapters(env.get(ENV.adapters, ""), served or endpoint, component, problems)
    return Settings(
        tool_call_parser=env.get(ENV.tool_call_parser, "").strip(),
        chat_stop_sequences=_json_strings(env, ENV.stop_sequences, "non-empty strings", problems),
        cors_origins=_json_strings(env, ENV.cors_origins, "origins", problems),
        endpoint_name=endpoint,
        served_model_name=served or endpoint,
        dialect=dialect,
        api_key_parameter=parameter,
        api_key=api_key,
        auth_disabled=auth_disabled,
        max_output_tokens=int(max_tokens),
        deadline_seconds=float(deadline),
        response_streaming=streaming,
        inference_component_name=component,
        adapters=adapters,
        problems=tuple(problems),
    )


def _flag(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "false", "0", "1"):
        problems.append(f"{name} must be true or false")
    return raw in ("true", "1")


def _positive(env: Mapping[str, str], name: str, default: float, kind: type, problems: list[str]) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not 0 < value < 10**9:
        problems.append(f"{name} must be a positive {'integer' if kind is int else 'number'}, not {raw!r}")
        return default
    return value


def _adapters(raw: str, base: str, component: str, problems: list[str]) -> dict[str, str]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) and k and v for k, v in value.items()):
        problems.append(f"{ENV.adapters} must be a JSON object of model name → inference component, not {raw[:100]!r}")
        return {}
    if base in value:
        problems.append(f"{ENV.adapters} names the base model {base!r} as an adapter")
        return {}
    if not component:  # the base is a component too, and SageMaker wants it named on every call
        problems.append(f"{ENV.adapters} needs {ENV.inference_component_name}, the base model's inference component")
    return value


def _json_strings(env: Mapping[str, str], variable: str, what: str, problems: list[str]) -> tuple[str, ...]:
    """`variable`'s JSON array of non-empty strings, each once in its first place; empty when unset."""
    raw = env.get(variable, "")
    if not raw.strip():
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        problems.append(f"{variable} must be a JSON array of {what}, not {raw[:100]!r}")
        return ()
    return tuple(dict.fromkeys(value))
