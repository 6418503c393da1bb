"""`openai-proxy`: the same handler over HTTP on your machine (standard library only).

Each HTTP request becomes an API Gateway payload-2.0 event, so what runs here is what runs in
Lambda. Point OpenWebUI or the openai SDK at http://HOST:PORT/v1 with your local AWS credentials.
"""

from __future__ import annotations

import argparse
import base64
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from openai_proxy.config import MAX_BODY_BYTES, load_settings
from openai_proxy.handler import handler


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

    def log_message(self, format: str, *args: object) -> None:
        pass  # the handler already logs one JSON line per request

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES * 2:
            self._send(
                413,
                {"content-type": "application/json"},
                b'{"error":{"message":"Request too large.",'
                b'"type":"invalid_request_error","param":null,"code":"request_too_large"}}',
            )
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        request_id = str(uuid.uuid4())
        result = handler(
            to_event(self.command, self.path, self.headers.items(), body, self.client_address[0], request_id),
            LocalContext(request_id),
        )
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        self._send(result["statusCode"], result.get("headers") or {}, data)

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


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


def make_server(host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A ready server (port 0 picks a free one: read `server.server_address`); call serve_forever()."""
    server = ThreadingHTTPServer((host, port), ProxyRequestHandler)
    server.daemon_threads = True
    return server


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start a server in a daemon thread (for tests and tools); stop it with server.shutdown()."""
    server = make_server(host, port)
    thread = threading.Thread(target=server.serve_forever, name="openai-proxy", daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openai-proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks one)")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port)
    except OSError as exc:
        print(f"openai-proxy: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    settings = load_settings()
    print(
        f"openai-proxy listening on http://{host}:{port}/v1 "
        f"(endpoint {settings.endpoint_name or '?'}, model {settings.model_id or '?'}, dialect {settings.dialect})",
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
