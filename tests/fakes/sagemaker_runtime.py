"""A fake SageMaker runtime on 127.0.0.1 that speaks the real wire format, and relays to a real container.

It serves `POST /endpoints/{name}/invocations` and `/invocations-response-stream` with real AWS
event-stream framing, so the unchanged boto3 client reaches it through
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`:

    with FakeSageMakerRuntime() as fake:
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = fake.url
        fake.script(StreamReply(split_every(vllm_chat_sse(["Hel", "lo"]), 7)))  # the next request
        fake.script(ErrorReply.model_not_ready())                              # the one after
        ...                                   # later requests: the echo model (see `echo_reply`)
        fake.requests[-1].json               # what the proxy sent

Scripted replies are used first-in first-out, one per request. With none left, the answer comes from:

- **a real container** with `FakeSageMakerRuntime(relay_to="http://127.0.0.1:PORT")` (RELAY mode;
  tests/engine runs vLLM 0.27.1 there). What SageMaker does is imitated, what the container says
  is real: the body is POSTed to the container's `/invocations` for both operations; a container
  4xx/5xx becomes `ModelError` (424) with `OriginalStatusCode` and `OriginalMessage` (the
  container's body), as `ErrorReply.model_error` builds it; a streamed answer is forwarded in
  PayloadPart frames holding the container's bytes as they arrive (part boundaries fall wherever
  the reads do, as SageMaker's do); a container that hangs up mid-answer ends the stream with
  `ModelStreamError` (`StreamBroken`), one that cannot be reached gets `InternalFailure`.
- **the echo model** otherwise: any chat is answered "Hello from the fake model! You said: <last
  user text>" (completions and text-generation requests likewise), honouring max_tokens /
  max_new_tokens.

Always scripted, as no container produces them: SageMaker's own errors (throttling, endpoint not
found, model not ready, service unavailable, internal failure), broken or stalled streams (error
frames, bad checksums, `hold_after`), and the LMI/TGI dialects' formats.
tests/proxy/conftest.py wraps it in fixtures: `fake_runtime` (one per session), `sagemaker` (the
same, emptied for each test), `proxy_env` (the proxy's environment pointed at it), `local_proxy`
(the `openai-proxy` server's base URL) and `openai_client` (the SDK on that URL); tests/engine/fixtures.py
puts it in RELAY mode in front of vLLM (`relay`).
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import socket
import struct
import sys
import threading
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

ECHO_GREETING = "Hello from the fake model!"

# ---------------------------------------------------------------- event-stream framing


def encode_event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, its CRC, string headers, payload, message CRC."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def payload_part_frame(data: bytes) -> bytes:
    return encode_event_frame(
        {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"},
        data,
    )


def error_frame(exception_type: str, message: str, error_code: str | None = None) -> bytes:
    """`ModelStreamError` (with ErrorCode) or `InternalStreamFailure`, as SageMaker sends them mid-stream."""
    body: dict[str, Any] = {"Message": message}
    if error_code is not None:
        body["ErrorCode"] = error_code
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_frame(headers, json.dumps(body).encode())


# ---------------------------------------------------------------- what containers write


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def openai_chat_chunks(
    tokens: Sequence[str],
    *,
    model: str = "fake-model",
    finish_reason: str = "stop",
    usage: dict | None = None,
    tool_calls: Sequence[dict] = (),
) -> list[dict]:
    """vLLM's chat.completion.chunk objects: role, one per token, tool-call deltas, finish, usage."""
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": model}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": t}) for t in tokens]
    chunks += [chunk({"tool_calls": [call]}) for call in tool_calls]
    chunks.append(chunk({"content": ""}, finish_reason))
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def vllm_chat_sse(tokens: Sequence[str], **kwargs: Any) -> bytes:
    """vLLM DLC streaming a chat: `data: {chunk}\\n\\n` … `data: [DONE]\\n\\n`."""
    return b"".join(_sse(c) for c in openai_chat_chunks(tokens, **kwargs)) + b"data: [DONE]\n\n"


def vllm_completion_sse(
    tokens: Sequence[str], *, model: str = "fake-model", finish_reason: str = "stop", usage: dict | None = None
) -> bytes:
    base = {"id": "cmpl-fake", "object": "text_completion", "created": 1, "model": model}
    events = [{**base, "choices": [{"index": 0, "text": t, "logprobs": None, "finish_reason": None}]} for t in tokens]
    events.append({**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": finish_reason}]})
    if usage is not None:
        events.append({**base, "choices": [], "usage": usage})
    return b"".join(_sse(e) for e in events) + b"data: [DONE]\n\n"


def lmi_chat_jsonlines(tokens: Sequence[str], **kwargs: Any) -> bytes:
    """LMI's chat streaming: bare chat.completion.chunk JSON lines, no `data:`, no `[DONE]`."""
    return b"".join(json.dumps(c).encode() + b"\n" for c in openai_chat_chunks(tokens, **kwargs))


def _token_events(tokens: Sequence[str], finish_reason: str, *, lmi: bool) -> list[dict]:
    events = []
    for i, text in enumerate(tokens):
        event: dict[str, Any] = {"token": {"id": 100 + i, "text": text, "logprob" if not lmi else "log_prob": -0.5}}
        if not lmi:
            event["token"]["special"] = False
            event.update(index=i, generated_text=None, details=None)
        events.append(event)
    final = {"finish_reason": finish_reason, "generated_tokens": len(tokens)}
    if events:
        events[-1]["generated_text"] = "".join(tokens)
        events[-1]["details"] = final
    return events


def lmi_token_lines(tokens: Sequence[str], *, finish_reason: str = "eos_token") -> bytes:
    """LMI text streaming: JSON lines `{"token": {...}}`, the last adding generated_text and details."""
    return b"".join(json.dumps(e).encode() + b"\n" for e in _token_events(tokens, finish_reason, lmi=True))


def tgi_token_sse(tokens: Sequence[str], *, finish_reason: str = "eos_token") -> bytes:
    """TGI text streaming: `data:{"token": {...}, "generated_text": null, ...}` events."""
    return b"".join(
        b"data:" + json.dumps(e).encode() + b"\n\n" for e in _token_events(tokens, finish_reason, lmi=False)
    )


# ---------------------------------------------------------------- splitting into PayloadParts


def split_every(data: bytes, size: int) -> list[bytes]:
    """Parts of `size` bytes: events cut anywhere, even inside a UTF-8 character."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def split_at(data: bytes, *offsets: int) -> list[bytes]:
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def one_part_per_line(data: bytes) -> list[bytes]:
    """One part per event line (how a well-behaved container tends to flush)."""
    return [line + b"\n" for line in data.split(b"\n") if line]


# ---------------------------------------------------------------- scripted replies


@dataclass
class StreamReply:
    """Answer the next request with these payload parts (any path), then optionally an error frame.

    `hold_after=n` sends n parts and then waits until `release` is set (or the fake stops),
    like a model that stalls mid-answer.
    """

    parts: list[bytes]
    content_type: str = "text/event-stream"
    error: tuple[str, str] | None = None  # (ModelStreamError | InternalStreamFailure, message)
    hold_after: int | None = None
    raw_tail: bytes = b""  # written as is after the parts' frames: e.g. a frame with a bad checksum
    release: threading.Event = field(default_factory=threading.Event)
    sent: threading.Event = field(default_factory=threading.Event)  # set once all parts were written


@dataclass
class JsonReply:
    """Answer the next request (a plain /invocations call) with this JSON body."""

    body: Any
    status: int = 200


@dataclass
class ErrorReply:
    """An HTTP error as SageMaker returns it: status, `x-amzn-ErrorType`, AWS error JSON."""

    status: int
    code: str
    message: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def validation(cls, message: str) -> ErrorReply:
        return cls(400, "ValidationError", message)

    @classmethod
    def endpoint_not_found(cls, name: str = "fake-endpoint") -> ErrorReply:
        return cls(400, "ValidationError", f"Endpoint {name} of account 123456789012 not found.")

    @classmethod
    def model_error(cls, original_status: int, original_message: str) -> ErrorReply:
        arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/fake-endpoint"
        side = "server" if original_status >= 500 else "client"  # SageMaker's words for a container 5xx / 4xx
        return cls(
            424,
            "ModelError",
            f'Received {side} error ({original_status}) from primary with message "{original_message}". '
            f"See {arn} in account 123456789012 for more information.",
            {"OriginalStatusCode": original_status, "OriginalMessage": original_message, "LogStreamArn": arn},
        )

    @classmethod
    def throttling(cls) -> ErrorReply:
        return cls(400, "ThrottlingException", "Rate exceeded")

    @classmethod
    def service_unavailable(cls) -> ErrorReply:
        return cls(503, "ServiceUnavailable", "Service is unavailable. Try again later.")

    @classmethod
    def model_not_ready(cls) -> ErrorReply:
        return cls(429, "ModelNotReadyException", "Model for endpoint fake-endpoint is not ready.")

    @classmethod
    def internal_failure(cls) -> ErrorReply:
        return cls(500, "InternalFailure", "An internal failure occurred.")

    @classmethod
    def no_capacity(cls) -> ErrorReply:
        """An inference component scaled to zero copies (AWS blog "scale down to zero", 2024-12)."""
        return cls(
            400,
            "ValidationError",
            "Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
            "in-progress (if configured) or try to increase the capacity by invoking "
            "UpdateInferenceComponentRuntimeConfig API.",
        )


@dataclass(frozen=True)
class RelayReply:
    """Answer the request with what the container at `url` answers (see RELAY mode in the module docstring)."""

    url: str
    timeout: float = 300.0  # seconds without a byte from the container; SageMaker's streams allow 8 min


Reply = StreamReply | JsonReply | ErrorReply | RelayReply


@dataclass
class RecordedRequest:
    path: str
    endpoint: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def streaming(self) -> bool:
        return self.path.endswith("/invocations-response-stream")


# ---------------------------------------------------------------- the echo model


def echo_text(body: dict) -> str:
    if isinstance(body.get("messages"), list):
        users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        content = users[-1].get("content") if users else ""
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        return f"{ECHO_GREETING} You said: {content}"
    return f" {ECHO_GREETING}"


def echo_reply(body: Any, *, streaming: bool, text_format: str = "tgi") -> Reply:
    """The default answer: deterministic, word by word, cut to the requested token budget."""
    if not isinstance(body, dict):
        return ErrorReply(424, "ModelError", "bad body", {"OriginalStatusCode": 400, "OriginalMessage": "bad body"})
    tokens = re.findall(r"\s*\S+", echo_text(body))  # "Hello", " from", " the", ...
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    limit = body.get("max_tokens") or parameters.get("max_new_tokens") or len(tokens)
    finish = "stop" if limit >= len(tokens) else "length"
    tokens = tokens[:limit]
    prompt_tokens = len(json.dumps(body.get("messages") or body.get("prompt") or body.get("inputs")).split())
    usage = _usage(prompt_tokens, len(tokens))
    if "inputs" in body:
        tgi_finish = "eos_token" if finish == "stop" else "length"
        if not streaming:
            details = {"finish_reason": tgi_finish, "generated_tokens": len(tokens)}
            return JsonReply([{"generated_text": "".join(tokens), "details": details}])
        if text_format == "lmi":
            return StreamReply(
                one_part_per_line(lmi_token_lines(tokens, finish_reason=tgi_finish)), "application/jsonlines"
            )
        return StreamReply(one_part_per_line(tgi_token_sse(tokens, finish_reason=tgi_finish)))
    model = body.get("model") or "fake-model"
    if "messages" in body:
        if not streaming:
            message = {"role": "assistant", "content": "".join(tokens)}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return JsonReply(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                }
            )
        return StreamReply(one_part_per_line(vllm_chat_sse(tokens, model=model, finish_reason=finish, usage=usage)))
    if not streaming:
        choice = {"index": 0, "text": "".join(tokens), "logprobs": None, "finish_reason": finish}
        return JsonReply(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": 1,
                "model": model,
                "choices": [choice],
                "usage": usage,
            }
        )
    return StreamReply(one_part_per_line(vllm_completion_sse(tokens, model=model, finish_reason=finish, usage=usage)))


# ---------------------------------------------------------------- the server


class FakeSageMakerRuntime:
    """A threaded HTTP server on 127.0.0.1 (a free port) playing the SageMaker runtime API.

    `url` is what AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME should be; `script(...)` queues replies;
    `requests` records what arrived; `relay_to` (a container's base URL) answers unscripted requests
    with that container instead of the echo model; `text_format` ("tgi" or "lmi") picks the echo
    model's token-stream format for `{"inputs": ...}` requests. Use as a context manager or start()/stop().
    """

    def __init__(self, *, text_format: str = "tgi", relay_to: str | None = None) -> None:
        self.text_format = text_format
        self.relay_to = relay_to
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._held: list[StreamReply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        """Forget scripted replies and recorded requests; release any held stream."""
        self.release_all()
        with self._lock:
            self._replies.clear()
            self.requests.clear()

    def release_all(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for reply in held:
            reply.release.set()

    def start(self) -> FakeSageMakerRuntime:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-sagemaker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.release_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSageMakerRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_reply(self, recorded: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            scripted = self._replies.popleft() if self._replies else None
        if scripted is not None:
            return scripted
        if self.relay_to:
            return RelayReply(self.relay_to)
        try:
            body = recorded.json
        except ValueError:
            body = None
        return echo_reply(body, streaming=recorded.streaming, text_format=self.text_format)

    def _hold(self, reply: StreamReply) -> None:
        with self._lock:
            self._held.append(reply)
        while not reply.release.wait(0.05) and not self._stopping.is_set():
            pass


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (as the proxy does at a deadline or an error) is normal here."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(fake: FakeSageMakerRuntime) -> type[BaseHTTPRequestHandler]:
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
            if (
                len(parts) != 3
                or parts[0] != "endpoints"
                or parts[2] not in ("invocations", "invocations-response-stream")
            ):
                self._error(ErrorReply(404, "UnknownOperationException", "Unknown operation"))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorded = RecordedRequest(self.path, parts[1], headers, body)
            reply = fake._next_reply(recorded)
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
            self.send_header("x-amzn-RequestId", "fake-request-id")
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
                    fake._hold(reply)
                self._chunk(payload_part_frame(part))
            if reply.hold_after is not None and reply.hold_after >= len(reply.parts):
                fake._hold(reply)
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
            try:
                try:
                    container.request("POST", "/invocations", recorded.body, {"Content-Type": content_type})
                    answer = container.getresponse()
                except OSError as error:
                    self._error(ErrorReply(500, "InternalFailure", f"the container could not be reached: {error}"))
                    return
                if answer.status >= 400:
                    original = answer.read().decode("utf-8", "replace")
                    self._error(ErrorReply.model_error(answer.status, original))
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
