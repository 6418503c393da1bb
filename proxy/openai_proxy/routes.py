"""The route table, in one place, and what each route does: the contract's routes (contract.ROUTES), each
answered by a function here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import unquote

from openai_proxy import contract
from openai_proxy.assemble import collect_completion
from openai_proxy.config import Settings
from openai_proxy.container_errors import CONTEXT_LENGTH_EXCEEDED, is_client_error, stream_failure_error
from openai_proxy.deadline import Deadline
from openai_proxy.dialects import body_for_room_left, container_request
from openai_proxy.errors import ApiError
from openai_proxy.generation import GenerationReport
from openai_proxy.http_event import HttpRequest
from openai_proxy.openai_objects import ResponseMeta, model_list, model_object
from openai_proxy.sagemaker import PayloadStream, open_payload_stream, prompt_over_context
from openai_proxy.sse import CONTENT_TYPE as SSE_CONTENT_TYPE
from openai_proxy.sse import stream_openai_sse
from openai_proxy.validation import CompletionRequest, parse_json_body, validate_chat, validate_completion
from openai_proxy.waking import WAKING_CODE, give_up_event, stream_when_awake

STARTED = int(time.time())  # `created` of the model object: when this container started


@dataclass
class Call:
    """One request on its way through a route; the route fills in what the log line reports."""

    request: HttpRequest
    settings: Settings
    deadline: Deadline
    path_param: str = ""
    stream: bool | None = None
    report: GenerationReport | None = None
    completion_request: CompletionRequest | None = None

    @property
    def usage(self) -> dict | None:
        if self.report is None or self.completion_request is None:
            return None
        return self.report.usage(self.completion_request)


@dataclass
class Reply:
    """A route's answer. `body` is a JSON object, bytes, or, for `stream: true`, an iterator of SSE
    chunks that produces the answer while it is consumed (joined by the buffered handler)."""

    status: int
    body: dict | bytes | Iterator[bytes]
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def health(call: Call) -> Reply:
    settings = call.settings
    ok = not settings.problems
    body = {
        "status": "ok" if ok else "misconfigured",
        "model": settings.served_model_name or None,
        "dialect": settings.dialect.name,
        "problems": list(settings.problems),
    }
    return Reply(200 if ok else 503, body)


def list_models(call: Call) -> Reply:
    return Reply(200, model_list(call.settings.served_model_names, STARTED))


def get_model(call: Call) -> Reply:
    if call.path_param not in call.settings.served_model_names:
        raise ApiError(
            404,
            f"The model `{call.path_param[:200]}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return Reply(200, model_object(call.path_param, STARTED))


def chat_completions(call: Call) -> Reply:
    return _generate(call, validate_chat(parse_json_body(call.request.body), call.settings))


def completions(call: Call) -> Reply:
    return _generate(call, validate_completion(parse_json_body(call.request.body), call.settings))


def _generate(call: Call, request: CompletionRequest) -> Reply:
    settings = call.settings
    call.stream, call.completion_request = request.stream, request
    # An adapter's request goes to its own component (SageMaker then names the adapter to vLLM in a header),
    # and its answer carries the adapter's public name, whatever name vLLM knows it by.
    body = container_request(request, settings.dialect, request.model)
    open_body = partial(_open_payload, settings.endpoint_name, settings.component_for(request.model), call.deadline)
    open_parts = partial(_open_within_context, open_body, body, request)
    try:
        parts = open_parts()  # failures here get a status
    except ApiError as error:
        if not (error.code == WAKING_CODE and request.stream and settings.response_streaming):
            raise
        parts = None  # a streamed chat can wait for a model scaled to zero: keep-alives until it answers
    meta = ResponseMeta.new(request.kind, request.model)
    report = call.report = GenerationReport()
    if parts is None:
        stream = partial(
            stream_openai_sse,
            request=request,
            meta=meta,
            deadline=call.deadline,
            dialect=settings.dialect,
            report=report,
        )
        chunks = stream_when_awake(open_parts, stream, call.deadline, partial(give_up_event, report=report))
        return Reply(200, chunks, SSE_CONTENT_TYPE, {"cache-control": "no-cache"})
    if request.stream:
        chunks = stream_openai_sse(parts, request, meta, call.deadline, dialect=settings.dialect, report=report)
        return Reply(200, _refused_before_any_token(chunks, report), SSE_CONTENT_TYPE, {"cache-control": "no-cache"})
    return Reply(200, collect_completion(parts, request, meta, call.deadline, dialect=settings.dialect, report=report))


def _refused_before_any_token(chunks: Iterator[bytes], report: GenerationReport) -> Iterator[bytes]:
    """The stream, once its first chunk is made: it comes with the first token, or when generation ended
    without one. A client error the container reported before any token (vLLM checks some parameters
    only once its stream has begun) is then raised: a 400 naming the parameter, not an event in a 200."""
    first = next(chunks, None)
    if report.error is not None and not report.answered and is_client_error(report.error.status):
        chunks.close()
        raise stream_failure_error(report.error)
    return _chained(first, chunks)


def _chained(first: bytes | None, rest: Iterator[bytes]) -> Iterator[bytes]:
    # A generator, not itertools.chain: closing it closes `rest`, and with it the model's stream.
    if first is not None:
        yield first
    yield from rest


def _open_payload(endpoint_name: str, component_name: str, deadline: Deadline, body: dict) -> PayloadStream:
    return open_payload_stream(endpoint_name, body, deadline, component_name)


def _open_within_context(
    open_body: Callable[[dict], PayloadStream], body: dict, request: CompletionRequest
) -> PayloadStream:
    """Open the model's stream. When the proxy's own max_tokens (the cap) does not fit beside the
    prompt, the answer gets the room left (one more call) instead of a refusal."""
    what = "messages" if request.kind == "chat" else "prompt"
    try:
        return open_body(body)
    except ApiError as error:
        if error.code != CONTEXT_LENGTH_EXCEEDED:
            raise
        retry = body_for_room_left(body, error.message) if request.max_tokens_is_ours else None
        if retry is None:
            raise error.naming(what) from None
    try:
        return open_body(retry)
    except ApiError as error:
        raise prompt_over_context(error, what) from None


Answer = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    """A route of the table: what the resolver matches, the function that answers, who may call it."""

    method: str
    pattern: str
    """The path; a final `{name}` takes the rest of it, slashes included, as the path parameter."""
    answer: Answer
    public: bool = False
    """Served without the API key."""
    generates: bool = False
    """It asks the model: its log line carries the proxy's CloudWatch metrics."""

    @classmethod
    def serving(cls, route: contract.Route, answer: Answer, *, generates: bool = False) -> Route:
        return cls(route.method, route.path, answer, route.public, generates)

    def path_param(self, path: str) -> str | None:
        """The path parameter when `path` is this route's ("" without a parameter), else None."""
        prefix, brace, _ = self.pattern.partition("{")
        if not brace:
            return "" if path == self.pattern else None
        if path.startswith(prefix) and len(path) > len(prefix):
            return unquote(path[len(prefix) :])
        return None


ROUTES = (
    Route.serving(contract.CHAT_COMPLETIONS, chat_completions, generates=True),
    Route.serving(contract.COMPLETIONS, completions, generates=True),
    Route.serving(contract.MODELS, list_models),
    Route.serving(contract.MODEL, get_model),
    Route.serving(contract.HEALTH, health),
)


def resolve(method: str, path: str) -> tuple[Route, str]:
    """The route that serves `method` at `path`, and its path parameter; ApiError 404, or 405 with Allow."""
    at_path = [(route, param) for route in ROUTES if (param := route.path_param(path)) is not None]
    if not at_path:
        raise ApiError(404, f"Invalid URL ({method[:10]} {path[:200]})", code="unknown_url")
    for route, param in at_path:
        if route.method == method:
            return route, param
    allowed = [route.method for route, _ in at_path]
    pattern = at_path[0][0].pattern
    raise ApiError(405, f"Method {method[:10]} is not allowed on {pattern}; use {', '.join(allowed)}.", allow=allowed)
