"""What the stack and the proxy agree on, spelled once: the proxy's environment, its routes, its deadlines
and the container dialects. ProxyFunction and ChatApi (components/) build from it, openai_proxy reads it,
and the local chain, the fakes and bench/ import it; standard library only (it ships in the Lambda).
docs/design.md ("Contracts between the parts") says what each one means.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass


@dataclass(frozen=True)
class ProxyEnvironment:
    """The names of the variables ProxyFunction sets and `config.load_settings` reads."""

    endpoint_name: str = "SAGEMAKER_ENDPOINT_NAME"
    """The SageMaker endpoint the proxy invokes (required)."""
    served_model_name: str = "SERVED_MODEL_NAME"
    """The public model id: listed by /v1/models, accepted in `model`, sent to vLLM (default: the endpoint name)."""
    served_model_name_alias: str = "MODEL_ID"
    """The name `served_model_name` had before; still read when it is unset (people type it for `openai-proxy`)."""
    dialect: str = "BACKEND_DIALECT"
    """How to talk to the container: one of DIALECTS."""
    api_key_parameter: str = "API_KEY_PARAMETER"
    """The SSM SecureString holding the API key (deployed)."""
    api_key: str = "API_KEY"
    """The API key itself (local use)."""
    auth_disabled: str = "AUTH_DISABLED"
    """`true` lets requests in without a key, only when no key is configured (local experiments)."""
    max_output_tokens: str = "MAX_OUTPUT_TOKENS"
    """The cap on `max_tokens`."""
    deadline_seconds: str = "REQUEST_DEADLINE_SECONDS"
    """Answer before this many seconds (BUFFERED_DEADLINE_SECONDS, or STREAMING_SECONDS when streaming)."""
    response_streaming: str = "RESPONSE_STREAMING"
    """`true` when the function runs the streaming runtime behind the REST API (apiStreaming)."""
    tool_call_parser: str = "TOOL_CALL_PARSER"
    """The container's vLLM tool-call parser (toolCallParser); empty: tools are not forwarded."""
    stop_sequences: str = "STOP_SEQUENCES"
    """A JSON array of strings added to every chat request's stops (chatStopSequences)."""
    inference_component_name: str = "INFERENCE_COMPONENT_NAME"
    """With component hosting: the base inference component every invocation names."""
    adapters: str = "ADAPTERS"
    """A JSON object: public model name → the adapter's inference component (issue 16)."""
    cors_origins: str = "CORS_ALLOWED_ORIGINS"
    """A JSON array of the browser origins allowed to call the API (apiCorsOrigins; `["*"]`: any), set with
    apiStreaming only: the HTTP API answers CORS itself and ignores the function's CORS headers."""

    def names(self) -> tuple[str, ...]:
        return astuple(self)


ENV = ProxyEnvironment()

# The Lambda's entry points, and the wrapper (in this package, see `bootstrap`) that runs the streaming one:
# Lambda's own variable names it (lambda_runtime.py).
BUFFERED_HANDLER = "openai_proxy.handler.handler"
STREAMING_HANDLER = "openai_proxy.handler.stream_handler"
EXEC_WRAPPER_VARIABLE = "AWS_LAMBDA_EXEC_WRAPPER"
STREAMING_EXEC_WRAPPER = "/var/task/openai_proxy/bootstrap"

# CORS: the response headers a browser's script may read besides the safelisted ones, on the proxy's answers and on
# API Gateway's own (components/rest_api_document.py): the SDKs' retry hint and the request id.
CORS_EXPOSED_HEADERS = "retry-after, x-request-id"

# Deadlines. The HTTP API cuts every integration at 30 s, not increasable (its integration timeout is
# 50-30,000 ms): the buffered proxy answers before, and its function lives until the cut.
GATEWAY_TIMEOUT_SECONDS = 30
BUFFERED_DEADLINE_SECONDS = 28
# A REST API integration that streams may take 15 min, Lambda's own maximum for a synchronous invocation:
# the streaming function runs as long, and the proxy's deadline is then the function's remaining time.
STREAMING_SECONDS = 900
# API Gateway's clock starts first: a cold start's Init phase (up to 10 s) is not in the function's time
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). So a streamed answer ends
# this much earlier, for its last event ([DONE] or an error) to reach the client.
STREAMING_HANDOFF_SECONDS = 10
STREAMING_DEADLINE_SECONDS = STREAMING_SECONDS - STREAMING_HANDOFF_SECONDS


@dataclass(frozen=True)
class Dialect:
    """How the proxy talks to the container (BACKEND_DIALECT names one)."""

    name: str
    openai: bool = False
    """The container takes OpenAI's requests itself (the vLLM DLC): messages, tools and vLLM's own fields
    are forwarded. Otherwise it generates text from a prompt the proxy renders (DJL-LMI, TGI)."""
    stop_parameter: str = "stop"
    """Text generation: the `parameters` field that takes the stop sequences."""


OPENAI = Dialect("openai", openai=True)
DIALECTS = {
    dialect.name: dialect for dialect in (OPENAI, Dialect("lmi", stop_parameter="stop_sequences"), Dialect("tgi"))
}


@dataclass(frozen=True)
class Route:
    """One thing the API serves. A `{name}` segment takes the rest of the path, slashes included
    (Hugging Face ids have one: GET /v1/models/Qwen/Qwen2.5-1.5B-Instruct)."""

    method: str
    path: str
    public: bool = False
    """Served without the API key."""

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


CHAT_COMPLETIONS = Route("POST", "/v1/chat/completions")
COMPLETIONS = Route("POST", "/v1/completions")
MODELS = Route("GET", "/v1/models")
MODEL = Route("GET", "/v1/models/{model}")
HEALTH = Route("GET", "/health", public=True)
ROUTES = (CHAT_COMPLETIONS, COMPLETIONS, MODELS, MODEL, HEALTH)
