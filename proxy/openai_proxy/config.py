"""The proxy's settings, read from the environment of docs/design.md ("Proxy environment"), checked once per request."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from openai_proxy.contract import STREAMING_SECONDS

DIALECTS = ("openai", "lmi", "tgi")
DEFAULT_DEADLINE_SECONDS = 28.0
# With RESPONSE_STREAMING=true the REST API's integration and the function both end at STREAMING_SECONDS.
# API Gateway's clock starts first: a cold start's Init phase (up to 10 s) is not in the function's time
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). So the answer ends this
# much earlier, for its last event ([DONE] or an error) to reach the client.
STREAMING_HANDOFF_SECONDS = 10.0
STREAMING_DEADLINE_SECONDS = STREAMING_SECONDS - STREAMING_HANDOFF_SECONDS
DEFAULT_MAX_OUTPUT_TOKENS = 1024
MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker's own payload limit; the gateway allows 10 MB
# Variables ProxyFunction (components/proxy_function.py) sets from stack config;
# tests/components/test_proxy_function.py checks that the proxy reads them.
TOOL_CALL_PARSER_ENV = "TOOL_CALL_PARSER"  # toolCallParser: the container's vLLM tool-call parser, or empty
STOP_SEQUENCES_ENV = "STOP_SEQUENCES"  # chatStopSequences: a JSON array of strings added to every chat request


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    model_id: str
    dialect: str
    api_key_parameter: str | None
    api_key: str | None
    auth_disabled: bool
    max_output_tokens: int
    deadline_seconds: float
    response_streaming: bool = False
    inference_component_name: str = ""  # with scaleToZero: the component to invoke on the endpoint
    tool_call_parser: str = ""
    """The container parses tool calls (vLLM --tool-call-parser); empty: tools are not forwarded."""
    chat_stop_sequences: tuple[str, ...] = ()
    """Stops added to every chat request (a base model's chat template), besides the client's."""
    problems: tuple[str, ...] = field(default=())

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

    endpoint = env.get("SAGEMAKER_ENDPOINT_NAME", "").strip()
    if not endpoint:
        problems.append("SAGEMAKER_ENDPOINT_NAME is not set")
    model_id = env.get("MODEL_ID", "").strip() or endpoint

    dialect = env.get("BACKEND_DIALECT", "openai").strip().lower() or "openai"
    if dialect not in DIALECTS:
        problems.append(f"BACKEND_DIALECT must be one of {', '.join(DIALECTS)}, not {dialect!r}")
        dialect = "openai"

    auth_raw = env.get("AUTH_DISABLED", "").strip().lower()
    if auth_raw not in ("", "true", "false", "0", "1"):
        problems.append("AUTH_DISABLED must be true or false")
    auth_disabled = auth_raw in ("true", "1")
    parameter = env.get("API_KEY_PARAMETER", "").strip() or None
    api_key = env.get("API_KEY") or None
    if not parameter and not api_key and not auth_disabled:
        problems.append("no API key configured: set API_KEY_PARAMETER or API_KEY (AUTH_DISABLED=true for local tests)")

    streaming_raw = env.get("RESPONSE_STREAMING", "").strip().lower()
    if streaming_raw not in ("", "true", "false", "0", "1"):
        problems.append("RESPONSE_STREAMING must be true or false")
    streaming = streaming_raw in ("true", "1")

    max_tokens = _positive(env, "MAX_OUTPUT_TOKENS", DEFAULT_MAX_OUTPUT_TOKENS, int, problems)
    # Either way the Lambda's remaining time caps it (deadline.Deadline.for_request).
    default_deadline = STREAMING_DEADLINE_SECONDS if streaming else DEFAULT_DEADLINE_SECONDS
    deadline = _positive(env, "REQUEST_DEADLINE_SECONDS", default_deadline, float, problems)
    return Settings(
        tool_call_parser=env.get(TOOL_CALL_PARSER_ENV, "").strip(),
        chat_stop_sequences=_stop_sequences(env.get(STOP_SEQUENCES_ENV, ""), problems),
        endpoint_name=endpoint,
        model_id=model_id,
        dialect=dialect,
        api_key_parameter=parameter,
        api_key=api_key,
        auth_disabled=auth_disabled,
        max_output_tokens=int(max_tokens),
        deadline_seconds=float(deadline),
        response_streaming=streaming,
        inference_component_name=env.get("INFERENCE_COMPONENT_NAME", "").strip(),
        problems=tuple(problems),
    )


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


def _stop_sequences(raw: str, problems: list[str]) -> tuple[str, ...]:
    if not raw.strip():
        return ()
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        problems.append(f"{STOP_SEQUENCES_ENV} must be a JSON array of non-empty strings, not {raw[:100]!r}")
        return ()
    return tuple(dict.fromkeys(value))
