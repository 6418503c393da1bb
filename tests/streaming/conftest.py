"""A fake Lambda Runtime API on 127.0.0.1 that records a streamed response chunk by chunk.

It also holds the runtime to the streaming contract's last step: after a streamed response the
runtime closes the connection (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html,
"Implementing response streaming in a custom runtime"). A request sent on a connection that
carried a streamed response is recorded in `reused_after_stream`, and every test fails on it.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openai_proxy.lambda_runtime import RuntimeApiClient

PREFIX = "/2018-06-01/runtime"


@dataclass
class StreamedResponse:
    """One POST to /invocation/{id}/response, as the fake received it."""

    headers: dict[str, str]
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    """(time.monotonic() when the chunk was read, its bytes), in order."""
    trailers: dict[str, str] = field(default_factory=dict)
    complete: bool = False

    @property
    def data(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


class FakeRuntimeApi:
    """Hands out queued invocations and records responses, errors and init errors."""

    def __init__(self) -> None:
        self.invocations: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
        self.responses: dict[str, StreamedResponse] = {}
        self.errors: dict[str, tuple[dict[str, str], dict]] = {}
        self.init_errors: list[tuple[dict[str, str], dict]] = []
        self.closed_after_stream: set[str] = set()
        """Request ids whose streamed response's connection the runtime closed."""
        self.reused_after_stream: list[tuple[str, str, str]] = []
        """(streamed request id, method, path) of each request sent on such a connection instead."""
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def add_invocation(self, request_id: str, event: object, deadline_ms: int | None = None, **headers: str) -> None:
        all_headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms or int(time.time() * 1000) + 60_000),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:proxy",
            "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            **headers,
        }
        self.invocations.put((json.dumps(event).encode(), all_headers))

    def wait_for_data(self, request_id: str, expected: bytes, timeout: float = 5.0) -> bool:
        """Block until the response for `request_id` contains `expected` (the handshake a handler waits on)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: request_id in self.responses and expected in self.responses[request_id].data, timeout
            )

    def wait_for_complete(self, request_id: str, timeout: float = 5.0) -> StreamedResponse:
        with self._changed:
            done = self._changed.wait_for(
                lambda: request_id in self.responses and self.responses[request_id].complete, timeout
            )
        assert done, f"response {request_id} did not complete"
        return self.responses[request_id]

    def wait_for_close(self, request_id: str, timeout: float = 5.0) -> bool:
        """Block until the runtime has closed the connection that carried `request_id`'s streamed response."""
        with self._changed:
            return self._changed.wait_for(lambda: request_id in self.closed_after_stream, timeout)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real Runtime API

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes; without this, Nagle stalls each answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: object) -> None:
                pass

            def handle(self) -> None:
                self.streamed: str | None = None  # the request id of a streamed response sent on this connection
                super().handle()  # returns when the runtime closes the connection
                if self.streamed is not None:
                    fake.closed_after_stream.add(self.streamed)
                    fake._notify()

            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                if self.streamed is not None:
                    fake.reused_after_stream.append((self.streamed, self.command, self.path))
                return True

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._answer(404, {"errorMessage": "unknown path"})
                try:
                    body, headers = fake.invocations.get(timeout=10)
                except queue.Empty:
                    return self._answer(500, {"errorMessage": "no invocation queued"})
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                headers = dict(self.headers.items())
                if parts == ["init", "error"]:
                    fake.init_errors.append((headers, json.loads(self._read_body())))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "error":
                    fake.errors[parts[1]] = (headers, json.loads(self._read_body()))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "response":
                    self._read_stream(parts[1], headers)
                    if fake.responses[parts[1]].headers.get("Lambda-Runtime-Function-Response-Mode") == "streaming":
                        self.streamed = parts[1]
                else:
                    return self._answer(404, {"errorMessage": "unknown path"})
                fake._notify()
                self._answer(202, {"status": "OK"})

            def _read_body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _read_stream(self, request_id: str, headers: dict[str, str]) -> None:
                record = fake.responses[request_id] = StreamedResponse(headers=headers)
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    record.chunks.append((time.monotonic(), self._read_body()))
                    record.complete = True
                    return
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        break
                    data = self.rfile.read(size)
                    assert self.rfile.read(2) == b"\r\n"
                    record.chunks.append((time.monotonic(), data))
                    fake._notify()
                while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    record.trailers[name.strip()] = value.strip()
                record.complete = True

            def _answer(self, status: int, document: dict) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def runtime_api() -> Iterator[FakeRuntimeApi]:
    fake = FakeRuntimeApi()
    fake.start()
    yield fake
    fake.stop()
    assert fake.reused_after_stream == [], "the runtime kept using a connection after a streamed response"


@pytest.fixture
def client(runtime_api: FakeRuntimeApi) -> Iterator[RuntimeApiClient]:
    client = RuntimeApiClient(runtime_api.address)
    yield client
    client.reset()
