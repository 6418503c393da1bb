"""The UI host's reverse proxy, run for real: nginx with the configuration the boot script writes.

The boot script's own proxy-prepare and proxy steps run (tests/components/ui_origin.py; SSM and
the metadata service stubbed), in front of a small HTTP server on 127.0.0.1 that stands in for
OpenWebUI. What a person would notice: a request that did not come through our CloudFront
distribution (no secret header, or a wrong one) gets 403 and never reaches OpenWebUI; one that did
passes, uploads and WebSockets included, and the secret never reaches OpenWebUI.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.components.ui_origin import free_port, nginx_missing, origin_proxy, run_step, write_host_conf

pytestmark = pytest.mark.skipif(nginx_missing(), reason="needs nginx (.ci/run installs it)")
SECRET = "Zq8vN3kLp0aT7yWm2Xc5Rb1Hd9Fg4Js6Ue0Ko3Pi"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


class FakeOpenWebUI(BaseHTTPRequestHandler):
    """Answers every request with what it received; completes a WebSocket handshake and echoes."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict]] = []

    def log_message(self, *args) -> None:
        pass

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body_bytes": len(body)}
        self.seen.append(record)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest())
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept.decode())
            self.end_headers()
            self.wfile.flush()
            self.wfile.write(self.rfile.read(5))  # echo the client's first bytes over the upgraded connection
            self.wfile.flush()
            return
        payload = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer


@pytest.fixture(scope="module")
def backend() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenWebUI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def proxy(backend: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with origin_proxy(backend, SECRET, tmp_path_factory.mktemp("openwebui-conf")) as port:
        yield port


def request(port: int, method: str = "GET", path: str = "/api/config", headers: dict | None = None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_request_without_the_origin_header_is_refused_before_openwebui(proxy):
    before = len(FakeOpenWebUI.seen)

    status, _ = request(proxy)

    assert status == 403
    assert len(FakeOpenWebUI.seen) == before


def test_a_request_with_a_wrong_origin_header_is_refused(proxy):
    before = len(FakeOpenWebUI.seen)

    status, _ = request(proxy, headers={"X-Origin-Verify": SECRET[:-1] + "x"})

    assert status == 403
    assert len(FakeOpenWebUI.seen) == before


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_a_request_from_cloudfront_reaches_openwebui_without_the_secret(proxy, method):
    status, body = request(
        proxy, method, "/api/v1/chats/?page=1", headers={"X-Origin-Verify": SECRET, "Host": "d1.cloudfront.net"}
    )

    assert status == 200
    seen = json.loads(body)
    assert seen["method"] == method
    assert seen["path"] == "/api/v1/chats/?page=1"
    headers = {name.lower(): value for name, value in seen["headers"].items()}
    assert "x-origin-verify" not in headers  # the secret stops at the proxy
    assert headers["x-forwarded-proto"] == "https"
    assert headers["host"] == "d1.cloudfront.net"


def test_a_file_upload_of_several_megabytes_passes(proxy):
    upload = b"x" * (8 * 1024 * 1024)

    status, body = request(proxy, "POST", "/api/v1/files/", headers={"X-Origin-Verify": SECRET}, body=upload)

    assert status == 200
    assert json.loads(body)["body_bytes"] == len(upload)


def test_an_upload_over_the_limit_is_refused_with_413(proxy):
    connection = socket.create_connection(("127.0.0.1", proxy), timeout=20)
    with connection:
        # nginx judges Content-Length before reading the body: no need to send 200 MB.
        connection.sendall(
            b"POST /api/v1/files/ HTTP/1.1\r\nHost: x\r\nX-Origin-Verify: "
            + SECRET.encode()
            + b"\r\nContent-Length: 209715200\r\n\r\n"
        )
        assert connection.recv(64).startswith(b"HTTP/1.1 413")


def test_a_websocket_upgrades_through_the_proxy(proxy):
    key = base64.b64encode(b"0123456789abcdef").decode()
    connection = socket.create_connection(("127.0.0.1", proxy), timeout=20)
    with connection:
        connection.sendall(
            (
                "GET /ws/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                "Host: d1.cloudfront.net\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-Origin-Verify: {SECRET}\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += connection.recv(1024)
        head, _, rest = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
        assert b"Sec-WebSocket-Accept: " + expected in head
        connection.sendall(b"hello")
        while len(rest) < 5:
            rest += connection.recv(1024)
        assert rest == b"hello"


def test_a_websocket_without_the_origin_header_is_refused(proxy):
    connection = socket.create_connection(("127.0.0.1", proxy), timeout=20)
    with connection:
        connection.sendall(
            b"GET /ws/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert connection.recv(64).startswith(b"HTTP/1.1 403")


def test_the_origin_secret_lands_in_a_root_only_file(tmp_path, backend):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    write_host_conf(tmp_path / "conf", f"127.0.0.1:{free_port()}", backend)

    result = run_step("proxy-prepare", tmp_path / "conf", state_dir, SECRET)

    assert result.returncode == 0, result.stderr
    secret_file = tmp_path / "conf" / "origin-secret.conf"
    assert secret_file.stat().st_mode & 0o077 == 0
    assert SECRET in secret_file.read_text()
    assert SECRET not in (tmp_path / "conf" / "nginx.conf").read_text()
    assert SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("secret", ["", "short", 'forty-chars-with-a-quote-"-and-spaces---x'])
def test_an_origin_secret_nginx_could_misread_stops_the_proxy(tmp_path, backend, secret):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    write_host_conf(tmp_path / "conf", f"127.0.0.1:{free_port()}", backend)

    result = run_step("proxy-prepare", tmp_path / "conf", state_dir, secret=secret)

    assert result.returncode == 1
    assert "not 32+ letters and digits; not starting the proxy" in result.stderr
    assert not (tmp_path / "conf" / "origin-secret.conf").exists()
