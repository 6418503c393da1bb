"""SageMaker's runtime API on 127.0.0.1: InvokeEndpoint and InvokeEndpointWithResponseStream, relayed to a container.

It serves `POST /endpoints/{name}/invocations` and `/invocations-response-stream` as SageMaker does,
so the unchanged boto3 client reaches it through `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`:

    with SageMakerRuntime() as runtime:
        runtime.serve_inference_component("my-endpoint", "my-endpoint-model", "http://127.0.0.1:8080")
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = runtime.url

What SageMaker does is imitated, what the container says is real:
- the body is POSTed to the container's `/invocations` for both operations (the SageMaker contract
  the vLLM DLC serves); a streamed answer comes back in `PayloadPart` event-stream frames holding
  the container's bytes as they arrive (part boundaries fall wherever the reads do, as SageMaker's do);
- a container 4xx/5xx becomes `ModelError` (424) with `OriginalStatusCode` and `OriginalMessage`;
  a container that hangs up mid-answer ends the stream with `ModelStreamError` (`StreamBroken`);
  one that cannot be reached gets `InternalFailure` (500);
- names are checked as SageMaker checks them: an unknown endpoint is a `ValidationError`; an endpoint
  hosting inference components must be invoked with one of their names (`InferenceComponentName`,
  the `X-Amzn-SageMaker-Inference-Component` header).

Each served name maps to a `Container` (its URL and the headers SageMaker adds for it), so a LoRA
adapter component is one more entry whose headers carry `X-Amzn-SageMaker-Adapter-Identifier`;
`serve_adapter_component` first registers the adapter with the base's container (adapter_components.py).

For tests, with no name served: `SageMakerRuntime(relay_to=URL)` relays every endpoint name to one
container, and without it the echo model answers (echo_model.py). `script(...)` queues replies
(replies.py) used first-in first-out, one per request, before any of that: SageMaker's own errors,
broken or stalled streams, the LMI and TGI formats. `requests` holds the last `RECORDED_REQUESTS` that
arrived (bounded: a long `sagemaker-llm-local` run would otherwise keep every body).
tests/proxy/conftest.py and tests/engine/fixtures.py wrap it in fixtures.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import tempfile
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from sagemaker_llm_local.adapter_components import (
    ADAPTER_IDENTIFIER,
    AdapterError,
    adapter_identifier,
    register_adapter,
    unpack_adapter,
)
from sagemaker_llm_local.echo_model import echo_reply
from sagemaker_llm_local.event_stream import error_frame, payload_part_frame
from sagemaker_llm_local.replies import ErrorReply, JsonReply, RecordedRequest, RelayReply, Reply, StreamReply

OPERATIONS = ("invocations", "invocations-response-stream")  # InvokeEndpoint, InvokeEndpointWithResponseStream


@dataclass(frozen=True)
class Container:
    """Where a served name's model answers: a container's base URL, and headers SageMaker adds for it."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Endpoint:
    variant: Container | None = None
    components: dict[str, Container] = field(default_factory=dict)


# Enough for any test's conversation (the longest makes 31 requests); older ones are forgotten.
RECORDED_REQUESTS = 200


class SageMakerRuntime:
    """A threaded HTTP server on 127.0.0.1 playing SageMaker's runtime API (`port=0` picks a free port).

    `url` is what AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME should be. `serve_endpoint` and
    `serve_inference_component` say what answers which name; `relay_to`, `text_format` ("tgi" or
    "lmi": the echo model's token-stream format), `script` and `requests` are for tests (module
    docstring). Use as a context manager or start()/stop().
    """

    def __init__(
        self, *, text_format: str = "tgi", relay_to: str | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.text_format = text_format
        self.relay_to = relay_to
        self._requests: deque[RecordedRequest] = deque(maxlen=RECORDED_REQUESTS)
        self._endpoints: dict[str, _Endpoint] = {}
        self._replies: deque[Reply] = deque()
        self._held: list[StreamReply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._unpacked: tempfile.TemporaryDirectory[str] | None = None

    @property
    def requests(self) -> list[RecordedRequest]:
        """The last RECORDED_REQUESTS invocations that arrived, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve_endpoint(self, endpoint: str, container_url: str) -> None:
        """Answer invocations of `endpoint` (its production variant) with the container at `container_url`."""
        with self._lock:
            self._endpoints.setdefault(endpoint, _Endpoint()).variant = Container(container_url)

    def serve_inference_component(self, endpoint: str, component: str, container: str | Container) -> None:
        """Answer invocations of `component` on `endpoint`; from now on the endpoint requires a component name."""
        target = container if isinstance(container, Container) else Container(container)
        with self._lock:
            self._endpoints.setdefault(endpoint, _Endpoint()).components[component] = target

    def serve_adapter_component(self, endpoint: str, component: str, base_component: str, adapter: str | Path) -> None:
        """Answer invocations of the adapter component `component` with the base's container, as SageMaker does:
        `adapter` (the archive its ArtifactUrl names, or a folder) is unpacked and registered with that container
        first. An AdapterError when the base is not served or the container refuses the adapter."""
        with self._lock:
            served = self._endpoints.get(endpoint)
            base = served.components.get(base_component) if served else None
            if self._unpacked is None:
                self._unpacked = tempfile.TemporaryDirectory(prefix="sagemaker-adapters-")
            unpacked = Path(self._unpacked.name) / component
        if base is None:
            raise AdapterError(f"adapter {component}: its base component {base_component} is not served on {endpoint}")
        identifier = adapter_identifier(component)
        register_adapter(base.url, identifier, component, unpack_adapter(Path(adapter), unpacked))
        self.serve_inference_component(endpoint, component, Container(base.url, ((ADAPTER_IDENTIFIER, identifier),)))

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        """Forget scripted replies and recorded requests; release any held stream."""
        self.release_all()
        with self._lock:
            self._replies.clear()
            self._requests.clear()

    def release_all(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for reply in held:
            reply.release.set()

    def start(self) -> SageMakerRuntime:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sagemaker-runtime", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release_all()
        self._server.shutdown()
        self._server.server_close()
        if self._unpacked is not None:
            self._unpacked.cleanup()

    def __enter__(self) -> SageMakerRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, recorded: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(recorded)
            scripted = self._replies.popleft() if self._replies else None
            served = self._endpoints.get(recorded.endpoint) if self._endpoints else None
            any_served = bool(self._endpoints)
        if scripted is not None:
            return scripted
        if any_served:
            return _route(recorded, served)
        if self.relay_to:
            return RelayReply(self.relay_to, endpoint=recorded.endpoint)
        try:
            body = recorded.json
        except ValueError:
            body = None
        return echo_reply(body, streaming=recorded.streaming, text_format=self.text_format, endpoint=recorded.endpoint)

    def _hold(self, reply: StreamReply) -> None:
        with self._lock:
            self._held.append(reply)
        while not reply.release.wait(0.05) and not self._stopping.is_set():
            pass


def _route(recorded: RecordedRequest, served: _Endpoint | None) -> Reply:
    """The container a request names, or the ValidationError SageMaker gives for a name it does not know."""
    if served is None:
        return ErrorReply.endpoint_not_found(recorded.endpoint)
    component = recorded.inference_component
    if component:
        container = served.components.get(component)
        if container is None:
            return ErrorReply.inference_component_not_found(component)
    elif served.components or served.variant is None:
        return ErrorReply.inference_component_required()
    else:
        container = served.variant
    return RelayReply(container.url, headers=container.headers, endpoint=recorded.endpoint)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (as the proxy does at a deadline or an error) is normal here."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(runtime: SageMakerRuntime) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as SageMaker answers

        def setup(self) -> None:
            super().setup()
            # SageMaker flushes each PayloadPart at once; without this, Nagle and the client's delayed
            # ACK hold the first part ~40 ms behind the headers on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) != 3 or parts[0] != "endpoints" or parts[2] not in OPERATIONS:
                self._error(ErrorReply(404, "UnknownOperationException", "Unknown operation"))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorded = RecordedRequest(self.path, parts[1], headers, body)
            reply = runtime._next_reply(recorded)
            try:
                if isinstance(reply, RelayReply):
                    self._relay(reply, recorded)
                elif isinstance(reply, ErrorReply):
                    self._error(reply)
                elif isinstance(reply, JsonReply):
                    self._json(reply)
                elif recorded.streaming:
                    self._stream(reply)
                else:
                    self._json(JsonReply(json.loads(b"".join(reply.parts) or b"null")))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the proxy stopped reading (its deadline): fine

        def _error(self, reply: ErrorReply) -> None:
            data = json.dumps({"message": reply.message, **reply.extra}).encode()
            self.send_response(reply.status)
            self.send_header("x-amzn-ErrorType", reply.code)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, reply: JsonReply) -> None:
            self._send_body(reply.status, json.dumps(reply.body).encode(), "application/json")

        def _stream(self, reply: StreamReply) -> None:
            self._start_stream(reply.content_type)
            for i, part in enumerate(reply.parts):
                if reply.hold_after is not None and i == reply.hold_after:
                    runtime._hold(reply)
                self._chunk(payload_part_frame(part))
            if reply.hold_after is not None and reply.hold_after >= len(reply.parts):
                runtime._hold(reply)
            if reply.raw_tail:
                self._chunk(reply.raw_tail)
            if reply.error is not None:
                kind, message = reply.error
                self._chunk(error_frame(kind, message, "ModelError" if kind == "ModelStreamError" else None))
            self._end_stream()
            reply.sent.set()

        def _start_stream(self, content_type: str) -> None:
            # Chunked like the real service, so each frame reaches the client as it is written.
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.amazon.eventstream")
            self.send_header("X-Amzn-SageMaker-Content-Type", content_type)
            self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _relay(self, reply: RelayReply, recorded: RecordedRequest) -> None:
            """POST the body to the container's /invocations and answer as SageMaker does with what it says."""
            target = urlsplit(reply.url)
            container = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=reply.timeout)
            content_type = recorded.headers.get("content-type") or "application/json"
            headers = {"Content-Type": content_type, **dict(reply.headers)}
            try:
                try:
                    container.request("POST", "/invocations", recorded.body, headers)
                    answer = container.getresponse()
                except OSError as error:
                    self._error(ErrorReply(500, "InternalFailure", f"the container could not be reached: {error}"))
                    return
                if answer.status >= 400:
                    original = answer.read().decode("utf-8", "replace")
                    self._error(ErrorReply.model_error(answer.status, original, reply.endpoint))
                elif recorded.streaming:
                    self._relay_stream(answer)
                else:
                    container_type = answer.getheader("Content-Type") or "application/json"
                    self._send_body(answer.status, answer.read(), container_type)
            finally:
                container.close()

        def _relay_stream(self, answer: http.client.HTTPResponse) -> None:
            self._start_stream(answer.getheader("Content-Type") or "application/octet-stream")
            while True:
                try:
                    data = answer.read1(65536)  # what has arrived: part boundaries fall where the reads do
                except (OSError, http.client.HTTPException) as error:  # the container's side only
                    message = f"the container's stream broke: {error}"
                    self._chunk(error_frame("ModelStreamError", message, "StreamBroken"))
                    break
                if not data:
                    break
                self._chunk(payload_part_frame(data))
            self._end_stream()

        def _send_body(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    return Handler
