"""Bad input meets a clean OpenAI error, in Lambda (both handlers) and in the local server.

Unknown methods, bodies shorter than their Content-Length, a full listen queue, and lone UTF-16
surrogates (JSON's "\\ud800", which json.loads accepts and UTF-8 cannot encode) in any field the
proxy might echo back.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_proxy.handler import handler, stream_handler
from openai_proxy.local_server import LISTEN_BACKLOG, make_server, serve_in_thread
from tests.proxy.events import API_KEY, MODEL_ID, api_event, body_of

HELLO = [{"role": "user", "content": "Hi"}]


def address(url: str) -> tuple[str, int]:
    host, port = urlsplit(url).netloc.split(":")
    return host, int(port)


def exchange_raw(url: str, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes the connection, parse the one answer."""
    with socket.create_connection(address(url), timeout=timeout) as conn:
        conn.sendall(data)
        reply = conn.makefile("rb").read()
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def local_request(url: str, method: str, path: str, body: bytes | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(*address(url), timeout=10)
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    return conn.getresponse()


def utf8_as_the_managed_runtime_sends_it(response: dict) -> bytes:
    # The Python 3.12+ runtime encodes a handler's result with ensure_ascii=False, then as UTF-8.
    return json.dumps(response, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/v1/models", "GET"),
        ("FOO", "/v1/chat/completions", "POST"),
        ("DELETE", "/v1/models/test-model", "GET"),
        ("PUT", "/health", "GET"),
    ],
)
def test_an_unknown_method_gets_a_json_405_with_allow_from_the_local_server(local_proxy, method, path, allow):
    response = local_request(local_proxy, method, path)
    body = response.read()
    assert response.status == 405
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == allow
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert method in error["message"]


def test_an_unknown_method_on_an_unknown_path_is_a_json_404(local_proxy):
    response = local_request(local_proxy, "TRACE", "/v1/nothing-here")
    assert response.status == 404
    assert json.loads(response.read())["error"]["code"] == "unknown_url"


@pytest.mark.parametrize("entry", ["handler", "stream_handler"])
def test_a_wrong_method_names_the_allowed_ones_in_lambda_too(proxy_env, entry):
    event = api_event("DELETE", "/v1/chat/completions")
    if entry == "handler":
        response = handler(event)
        status, headers = response["statusCode"], response["headers"]
    else:
        streamed = stream_handler(event)
        status, headers = streamed.status, streamed.headers
    assert status == 405
    assert headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET / HTTP/9.9", 505),
        (b"GET /a b HTTP/1.1", 400),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1", 414),
    ],
)
def test_what_the_standard_library_refuses_is_still_a_json_error(local_proxy, request_line, status):
    got, headers, body = exchange_raw(local_proxy, request_line + b"\r\nHost: x\r\n\r\n")
    assert got == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["message"]


# ---------------------------------------------------------------- slow or short requests


@pytest.fixture
def impatient_proxy(proxy_env):
    """A local server whose sockets wait at most 0.3 s for a read, as the default waits 60 s."""
    server, thread = serve_in_thread("127.0.0.1", 0, read_timeout=0.3)
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/v1"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_body_shorter_than_its_content_length_gets_408_and_the_connection_closes(impatient_proxy):
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
    data = f"{head}Content-Length: 100\r\n\r\n".encode() + b'{"messages": '  # and then nothing
    status, headers, body = exchange_raw(impatient_proxy, data)  # returns only once the server closes
    assert status == 408
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout"
    assert "Content-Length" in error["message"]


def test_a_chunked_body_that_stops_early_gets_408_too(impatient_proxy):
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
    data = f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + b"40\r\n" + b'{"messages": '
    status, _, _ = exchange_raw(impatient_proxy, data)
    assert status == 408


def test_a_connection_that_sends_nothing_is_closed(impatient_proxy):
    with socket.create_connection(address(impatient_proxy), timeout=10) as conn:
        assert conn.recv(1024) == b""  # closed by the server, not by our own timeout (which would raise)


def test_a_body_that_ends_early_with_the_connection_is_a_400(local_proxy):
    with socket.create_connection(address(local_proxy), timeout=10) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}")
        conn.shutdown(socket.SHUT_WR)
        reply = conn.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"shorter than its Content-Length" in reply


def test_the_listen_backlog_holds_128_connections_while_no_thread_accepts(proxy_env):
    server = make_server("127.0.0.1", 0)  # listening, but nothing accepts yet
    assert LISTEN_BACKLOG == 128
    try:
        with ExitStack() as stack:
            for _ in range(LISTEN_BACKLOG):
                # With the standard library's backlog of 5, the 7th connect would wait in SYN retries.
                stack.enter_context(socket.create_connection(server.server_address[:2], timeout=2))
    finally:
        server.server_close()


# ---------------------------------------------------------------- lone surrogates

SURROGATE_BODIES = [
    ("/v1/chat/completions", {"model": "\ud800", "messages": HELLO}, "model"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a\udc00b"}]}, "messages[0].content"),
    (
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": [{"type": "\ud83d"}]}]},
        "messages[0].content[0].type",
    ),
    ("/v1/chat/completions", {"messages": HELLO, "stop": ["\udfff"]}, "stop[0]"),
    ("/v1/chat/completions", {"messages": HELLO, "\ud800": 1}, "\\ud800"),
    ("/v1/completions", {"model": MODEL_ID, "prompt": "\ud83d", "stream": True}, "prompt"),
]


@pytest.mark.parametrize(("path", "body", "field"), SURROGATE_BODIES)
def test_a_lone_surrogate_in_the_body_is_a_400_naming_the_field_in_the_buffered_handler(proxy_env, path, body, field):
    response = handler(api_event("POST", path, body))
    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert (error["param"], error["code"]) == (field, "invalid_unicode")
    utf8_as_the_managed_runtime_sends_it(response)
    assert proxy_env.requests == []


@pytest.mark.parametrize(("path", "body", "field"), SURROGATE_BODIES)
def test_a_lone_surrogate_in_the_body_is_a_400_in_the_streaming_runtime(proxy_env, path, body, field):
    response = stream_handler(api_event("POST", path, body))
    assert response.status == 400
    response.prelude()
    assert json.loads(b"".join(response.body))["error"]["param"] == field


@pytest.mark.parametrize(("path", "body", "field"), SURROGATE_BODIES)
def test_a_lone_surrogate_in_the_body_is_a_400_from_the_local_server(local_proxy, path, body, field):
    response = local_request(local_proxy, "POST", path, json.dumps(body).encode())
    assert response.status == 400
    assert json.loads(response.read())["error"]["param"] == field


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_lone_surrogate_sent_as_raw_utf8_bytes_is_a_400_too(proxy_env, local_proxy, stream):
    # ED A0 80 is U+D800 encoded as UTF-8 would be; json.loads(bytes) takes it (surrogatepass).
    body = b'{"messages": [{"role": "user", "content": "a\xed\xa0\x80b"}], "stream": %s}' % str(stream).lower().encode()
    response = local_request(local_proxy, "POST", "/v1/chat/completions", body)
    assert response.status == 400
    assert json.loads(response.read())["error"]["param"] == "messages[0].content"
    event = api_event("POST", "/v1/chat/completions")
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    assert handler(event)["statusCode"] == 400
    assert proxy_env.requests == []


def test_an_escaped_surrogate_pair_is_an_ordinary_character(proxy_env):
    body = '{"messages": [{"role": "user", "content": "smile \\ud83d\\ude00"}]}'
    response = handler(api_event("POST", "/v1/chat/completions", body))
    assert response["statusCode"] == 200
    assert "smile \U0001f600" in body_of(response)["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda e: e.update(rawPath="/v1/models/\ud800"), "URL path"),
        (lambda e: e["requestContext"]["http"].update(method="G\udc00T"), "HTTP method"),
        (lambda e: e["headers"].update({"x-note": "\ud800"}), "x-note"),
        (lambda e: e["headers"].update(authorization="Bearer \ud800"), "authorization"),
    ],
)
def test_a_lone_surrogate_in_the_method_path_or_a_header_is_a_400(proxy_env, change, what):
    event = api_event("GET", "/v1/models")
    change(event)
    response = handler(event)
    assert response["statusCode"] == 400
    assert what in body_of(response)["error"]["message"]
    utf8_as_the_managed_runtime_sends_it(response)
    assert stream_handler(event).status == 400


@pytest.mark.parametrize("request_id", ["id\ud800", "id\r\nx-evil: 1", "x" * 500])
def test_a_request_id_unfit_for_a_header_is_replaced(proxy_env, request_id):
    event = api_event("GET", "/v1/models")
    event["requestContext"]["requestId"] = request_id
    response = handler(event)
    assert response["statusCode"] == 200
    echoed = response["headers"]["x-request-id"]
    assert echoed != request_id
    assert echoed.isascii() and echoed.isprintable() and len(echoed) == 36


# Text that often holds a lone surrogate, next to ASCII, Latin, astral characters and whole pairs.
any_text = st.text(alphabet=st.sampled_from("a \u00e9\U0001f600") | st.characters(categories=["Cs"]), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "tool"]) | any_text},
        optional={"content": any_text | json_values, "name": any_text},
    ),
    max_size=2,
)
request_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.just(MODEL_ID) | any_text | json_values,
        "messages": messages | json_values,
        "prompt": any_text | json_values,
        "stop": st.lists(any_text, max_size=5) | json_values,
        "stream": st.booleans(),
        "temperature": json_values,
    },
).flatmap(lambda body: st.dictionaries(any_text, json_values, max_size=2).map(lambda extra: {**extra, **body}))


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/v1/chat/completions", "/v1/completions"]),
    body=request_bodies,
)
def test_any_json_body_gets_an_answer_that_encodes_never_a_500(proxy_env, path, body):
    event = api_event("POST", path, json.dumps(body))
    response = handler(event)
    assert response["statusCode"] < 500, response["body"]
    utf8_as_the_managed_runtime_sends_it(response)
    streamed = stream_handler(event)
    assert streamed.status < 500
    b"".join(streamed.body)
