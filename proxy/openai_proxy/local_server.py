"""`openai-proxy`: the same handler over HTTP on your machine (standard library only).

Each HTTP request becomes an API Gateway payload-2.0 event, so what runs here is what runs in
Lambda. Point OpenWebUI or the openai SDK at http://HOST:PORT/v1 with your local AWS credentials.
A `stream: true` answer streams for real, as through the REST API with apiStreaming: chunked
transfer encoding, each OpenAI chunk written as soon as the model's part that completes it arrives.

Under bad input it answers in OpenAI's error shape, never the standard library's HTML: any method
reaches the handler (405 with `Allow` on a known path, 404 elsewhere), a request the standard
library cannot parse gets its status as a JSON error, and no socket read or write waits longer
than READ_TIMEOUT_SECONDS: a connection that sends nothing (idle keep-alive) is closed. Once a
request's first byte has come, all of it must arrive within REQUEST_SECONDS, however it trickles
(408, then the connection is closed). Its body's length must be certain (RFC 9112, section 6):
one Content-Length of ASCII digits, or a Transfer-Encoding that is exactly `chunked`. At most
MAX_THREADS connections are served at once; the next one gets a JSON 503 with Retry-After.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from openai_proxy.config import MAX_BODY_BYTES, load_settings
from openai_proxy.errors import openai_error
from openai_proxy.handler import stream_handler
from openai_proxy.lambda_runtime import StreamingResponse

READ_TIMEOUT_SECONDS = 60.0
"""The longest any read or write on a client's socket may wait (also how long an idle connection stays open)."""
REQUEST_SECONDS = 60.0
"""The longest a request may take to arrive (line, headers and body), counted from its first byte."""
MAX_THREADS = 64
"""Connections served at once, each by its own thread; one more is answered 503 and closed."""
LISTEN_BACKLOG = 128
"""Connections the kernel queues while every thread is busy accepting (the standard library's default is 5)."""
_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also takes "²" and other digits int() refuses


class RequestTooSlow(Exception):
    """The request did not arrive within its REQUEST_SECONDS (not a TimeoutError: the standard
    library would drop the connection silently)."""


class DeadlineSocketReader(io.RawIOBase):
    """A client socket's reads, each waiting at most the read timeout and what is left of the request's time."""

    def __init__(self, sock: socket.socket, read_timeout: float, request_seconds: float) -> None:
        self._sock = sock
        self._read_timeout = read_timeout
        self._request_seconds = request_seconds
        self.expires_at: float | None = None  # set by the request's first byte; None between requests

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        timeout = self._read_timeout
        if self.expires_at is not None:
            timeout = min(timeout, self.expires_at - time.monotonic())
            if timeout <= 0:
                raise RequestTooSlow
        self._sock.settimeout(timeout)
        try:
            received = self._sock.recv_into(buffer)
        except TimeoutError:
            if timeout < self._read_timeout:  # it was the request's time that ran out, not the read's
                raise RequestTooSlow from None
            raise
        finally:
            self._sock.settimeout(self._read_timeout)  # writes keep the plain timeout
        if self.expires_at is None and received:
            self.expires_at = time.monotonic() + self._request_seconds
        return received


class LocalContext:
    """The bits of a Lambda context the handler reads; locally there is no function timeout."""

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id
        self.function_name = "openai-proxy-local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class ProxyRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-proxy"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def __getattr__(self, name: str) -> object:
        # Any other method (TRACE, FOO…) goes to the handler as well, which answers it as Lambda does.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def setup(self) -> None:
        self.timeout = getattr(self.server, "read_timeout", READ_TIMEOUT_SECONDS)  # applied by super().setup()
        super().setup()
        self.request_seconds = getattr(self.server, "request_seconds", REQUEST_SECONDS)
        self._reader = DeadlineSocketReader(self.connection, self.timeout, self.request_seconds)
        self.rfile.close()  # the standard one: an open makefile() would keep the socket open after close()
        self.rfile = io.BufferedReader(self._reader)
        # Each chunk goes out in its own write; without this, Nagle's algorithm holds small ones back.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        self._reader.expires_at = None  # the next request's time starts with its first byte
        try:
            super().handle_one_request()
        except RequestTooSlow:  # in the request line or headers (the body's is answered by _serve)
            self.command, self.request_version = "", "HTTP/1.1"
            self._refuse_slow()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the handler already logs one JSON line per request

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # (it reads `requestline`, which a request cut before its line was read does not have)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (a malformed request line, headers too long…) as OpenAI errors."""
        text = message or HTTPStatus(code).phrase
        if self.request_version == "HTTP/0.9":  # the request line was not understood: answer as HTTP/1.x anyway
            self.request_version = "HTTP/1.0"
        self._refuse(code, text if text.endswith(".") else f"{text}.", None)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except TimeoutError:
            message = (
                f"The request body did not arrive within {self.timeout:g} s (is it shorter than its Content-Length?)."
            )
            return self._refuse(408, message, "request_timeout")
        except RequestTooSlow:
            return self._refuse_slow()
        if body is None:
            return None
        request_id = str(uuid.uuid4())
        response = stream_handler(
            to_event(self.command, self.path, self.headers.items(), body, self.client_address[0], request_id),
            LocalContext(request_id),
        )
        if is_event_stream(response) and self.command != "HEAD":
            self._stream(response)
        else:  # a JSON answer: whole, with its length, as before
            self._send(response.status, dict(response.headers), b"".join(response.body))

    def _read_body(self) -> bytes | None:
        """The request's body; None after refusing it. Each read waits at most the socket's timeout."""
        codings = [c.strip().lower() for c in ",".join(self.headers.get_all("transfer-encoding") or ()).split(",")]
        codings = [c for c in codings if c]
        lengths = {v.strip() for raw in self.headers.get_all("content-length") or () for v in raw.split(",")}
        # Wherever the body's end is unclear: answer, then close rather than misread the stream (RFC 9112, 6.3).
        if codings and lengths:
            self._refuse(400, "A request may have a Transfer-Encoding or a Content-Length, not both.", None)
            return None
        if codings:
            if codings[-1] != "chunked" or "chunked" in codings[:-1]:
                self._refuse(400, "The Transfer-Encoding of a request must end with a single `chunked`.", None)
                return None
            if codings != ["chunked"]:
                self._refuse(501, "Only the `chunked` transfer coding is supported.", None)
                return None
            return self._read_chunked()
        if len(lengths) > 1:
            self._refuse(400, "The request has two different Content-Length values.", None)
            return None
        raw_length = lengths.pop() if lengths else "0"
        length = int(raw_length) if _DIGITS.fullmatch(raw_length) else -1
        if length < 0:
            self._refuse(400, "The Content-Length header is not a number of bytes.", None)
            return None
        if length > MAX_BODY_BYTES * 2:
            self._refuse(413, "Request too large.", "request_too_large")
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed its side early
            self._refuse(400, "The request body is shorter than its Content-Length.", None)
            return None
        return body

    def _read_chunked(self) -> bytes | None:
        """A `Transfer-Encoding: chunked` request body; None after refusing a malformed or oversized one."""
        data = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16) if size_line.isalnum() else -1
                if size < 0:
                    raise ValueError(size_line)
            except ValueError:
                self._refuse(400, "The chunked request body is malformed.", None)
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return bytes(data)
            if len(data) + size > MAX_BODY_BYTES * 2:
                self._refuse(413, "Request too large.", "request_too_large")
                return None
            data += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _refuse_slow(self) -> None:
        self._refuse(408, f"The request did not arrive within {self.request_seconds:g} s.", "request_timeout")

    def _refuse(self, status: int, message: str, code: str | None) -> None:
        """Answer with an OpenAI error, then close: after a refusal the rest of the stream cannot be trusted."""
        kind = "server_error" if status >= 500 else "invalid_request_error"
        body = json.dumps(openai_error(message, kind, None, code)).encode()
        self.close_connection = True
        self._send(status, {"content-type": "application/json", "connection": "close"}, body)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, response: StreamingResponse) -> None:
        """Write each body chunk as soon as it is produced (one write per chunk); stop if the client leaves."""
        chunked = self.request_version != "HTTP/1.0"
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.close_connection = True  # an HTTP/1.0 client reads until the connection closes
        self.end_headers()
        body = iter(response.body)
        try:
            while True:
                try:
                    data = next(body)
                except StopIteration:
                    break
                except Exception as exc:
                    traceback.print_exc(file=sys.stderr)
                    data = (response.on_error(exc) if response.on_error else None) or b""
                    self._write_chunk(data, chunked)
                    break
                self._write_chunk(data, chunked)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away: stop generating (below)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()  # closes the model's stream and writes the log line

    def _write_chunk(self, data: bytes, chunked: bool) -> None:
        if data:  # an empty chunk would end a chunked body
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)


def is_event_stream(response: StreamingResponse) -> bool:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return headers.get("content-type", "").startswith("text/event-stream")


def to_event(method: str, target: str, headers, body: bytes, source_ip: str, request_id: str) -> dict:
    """A real HTTP request as API Gateway's payload format 2.0 would deliver it."""
    url = urlsplit(target)
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": merged,
        "queryStringParameters": dict(parse_qsl(url.query)) or None,
        "requestContext": {
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class ProxyServer(ThreadingHTTPServer):
    """One thread per connection, at most `max_threads` of them. A client closing or resetting its
    connection (a kept-alive one, say) is normal: no traceback for it."""

    request_queue_size = LISTEN_BACKLOG
    read_timeout = READ_TIMEOUT_SECONDS
    request_seconds = REQUEST_SECONDS

    def __init__(self, address: tuple[str, int], max_threads: int = MAX_THREADS) -> None:
        super().__init__(address, ProxyRequestHandler)
        self.max_threads = max_threads
        self._slots = threading.BoundedSemaphore(max_threads)

    def process_request(self, request: socket.socket, client_address: object) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # the thread did not start (a Ctrl-C may come after it did: not caught here)
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse_busy(self, connection: socket.socket) -> None:
        """A 503 written by the accepting thread: small enough for the socket's buffer, so it never waits."""
        message = f"The server is busy: all {self.max_threads} connections are in use. Retry shortly."
        body = json.dumps(openai_error(message, "server_error", None, "server_busy")).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        try:
            connection.settimeout(1.0)
            connection.sendall(head.encode() + body)
        except OSError:
            pass

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    *,
    request_seconds: float = REQUEST_SECONDS,
    max_threads: int = MAX_THREADS,
) -> ThreadingHTTPServer:
    """A ready server (port 0 picks a free one: read `server.server_address`); call serve_forever()."""
    server = ProxyServer((host, port), max_threads)
    server.daemon_threads = True
    server.read_timeout = read_timeout
    server.request_seconds = request_seconds
    return server


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    *,
    request_seconds: float = REQUEST_SECONDS,
    max_threads: int = MAX_THREADS,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start a server in a daemon thread (for tests and tools); stop it with server.shutdown()."""
    server = make_server(host, port, read_timeout, request_seconds=request_seconds, max_threads=max_threads)
    thread = threading.Thread(target=server.serve_forever, name="openai-proxy", daemon=True)
    thread.start()
    return server, thread


def port_number(text: str) -> int:
    """A TCP port for argparse: 0 (any free one) to 65535; else a one-line usage error."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openai-proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8000, help="port to listen on (default 8000; 0 picks one)")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port)
    except (OSError, OverflowError) as exc:  # bind() raises OverflowError for a port past 65535
        reason = getattr(exc, "strerror", None) or str(exc)
        print(f"openai-proxy: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    settings = load_settings()
    print(
        f"openai-proxy listening on http://{host}:{port}/v1 "
        f"(endpoint {settings.endpoint_name or '?'}, model {settings.served_model_name or '?'}, "
        f"dialect {settings.dialect.name})",
        flush=True,
    )
    for problem in settings.problems:
        print(f"openai-proxy: warning: {problem}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("openai-proxy: stopped", flush=True)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
