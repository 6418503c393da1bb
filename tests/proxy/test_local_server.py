"""`uv run openai-proxy`: listens where it says, turns HTTP into payload-2.0 events, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from urllib.parse import urlsplit

import pytest

from openai_proxy.local_server import to_event
from tests.proxy.events import API_KEY


def test_http_request_becomes_a_payload_v2_event():
    headers = [("Content-Type", "application/json"), ("X-Many", "a"), ("x-many", "b")]
    event = to_event("POST", "/v1/chat/completions?x=1", headers, b'{"a": 1}', "127.0.0.1", "rid")
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/v1/chat/completions"
    assert event["rawQueryString"] == "x=1"
    assert event["headers"] == {"content-type": "application/json", "x-many": "a,b"}
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["requestId"] == "rid"
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)
    binary = to_event("POST", "/", [], b"\xff\xfe", "127.0.0.1", "rid")
    assert binary["isBase64Encoded"] is True


def test_local_server_serves_the_handler(local_proxy):
    request = urllib.request.Request(f"{local_proxy}/models", headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["x-request-id"]
        assert json.loads(response.read())["data"][0]["id"] == "test-model"


def test_cli_prints_where_it_listens_and_stops_on_ctrl_c(proxy_env):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "openai_proxy.local_server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("openai-proxy listening on http://127.0.0.1:")
        url = line.split()[3]
        with urllib.request.urlopen(f"{url.removesuffix('/v1')}/health", timeout=10) as response:
            assert json.loads(response.read())["status"] == "ok"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "stopped" in out
    assert "Traceback" not in err


@pytest.mark.parametrize("length", ["abc", "-1"])
def test_a_malformed_content_length_gets_a_400_not_a_dropped_connection(local_proxy, length):
    host, port = urlsplit(local_proxy).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
        reply = conn.makefile("rb").read()  # the server closes the connection after answering
    status, _, rest = reply.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 400 ")
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["type"] == "invalid_request_error"
    assert "Content-Length" in error["message"]


def test_a_chunked_request_body_is_read_and_the_connection_stays_usable(local_proxy):
    host, port = urlsplit(local_proxy).netloc.split(":")
    body = json.dumps({"messages": [{"role": "user", "content": "Hi"}]}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
    chunked = f"{head}Transfer-Encoding: chunked\r\n\r\n".encode()
    chunked += b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    second = f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(chunked + second.encode())  # the second request right behind the first, on one connection
        replies = conn.makefile("rb").read()
    first = replies.partition(b"\r\n")[0]
    assert first.startswith(b"HTTP/1.1 200 "), replies[:300]
    assert b'"chat.completion"' in replies
    assert b'"object": "list"' in replies  # the models list: the chunked body was not read as a request


def test_a_client_resetting_its_kept_alive_connection_prints_no_traceback(capfd):
    import struct
    import time

    from openai_proxy.local_server import serve_in_thread

    server, thread = serve_in_thread("127.0.0.1", 0)
    try:
        conn = socket.create_connection(server.server_address[:2], timeout=5)
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.recv(65536)  # answered; the connection stays open for the next request
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset, as an HTTP client pool discarding the connection may send
        time.sleep(0.3)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("port", ["99999", "-1", "eighty"])
def test_a_port_out_of_range_is_one_usage_error_not_a_traceback(capsys, port):
    from openai_proxy.local_server import main

    with pytest.raises(SystemExit) as exited:
        main(["--port", port])

    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line] == [
        f"openai-proxy: error: argument --port: {port if port != 'eighty' else repr(port)} is not a port number"
        + (" (0 to 65535)" if port != "eighty" else "")
    ]


def test_a_port_the_socket_refuses_is_reported_in_one_line(monkeypatch, capsys):
    from openai_proxy import local_server

    monkeypatch.setattr(local_server, "port_number", int)  # past the CLI's check, the real bind() sees 99999

    assert local_server.main(["--port", "99999"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("openai-proxy: cannot listen on 127.0.0.1:99999: ") and err.count("\n") == 1
