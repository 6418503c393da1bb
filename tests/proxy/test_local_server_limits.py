"""The local server (`openai-proxy`) under hostile clients (issue 15, item 8): a body whose length is
uncertain is refused (RFC 9112, section 6), a request that trickles in is cut after REQUEST_SECONDS
in all, and the number of threads is bounded, with a JSON 503 for the connection one past it."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from openai_proxy.local_server import serve_in_thread
from tests.proxy.events import API_KEY
from tests.proxy.test_hardening_bad_input import exchange_raw

CHAT = json.dumps({"messages": [{"role": "user", "content": "Hi"}]}).encode()
HEAD = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\nConnection: close\r\n"


def request(headers: str, body: bytes = CHAT) -> bytes:
    return (HEAD + headers + "\r\n").encode("latin-1") + body


def chunked(body: bytes = CHAT) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


@contextmanager
def local_server(**limits: float) -> Iterator[tuple[str, int]]:
    server, thread = serve_in_thread("127.0.0.1", 0, **limits)
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------- the body's length


def test_a_content_length_of_non_ascii_digits_is_a_400_not_a_dropped_connection(local_proxy, capfd):
    # "²" (latin-1 B2) passes str.isdigit(); int() refuses it.
    status, headers, body = exchange_raw(local_proxy, request("Content-Length: \xb2\r\n", b"{}"))

    assert status == 400
    assert headers["connection"] == "close"
    assert "Content-Length" in json.loads(body)["error"]["message"]
    assert "Traceback" not in capfd.readouterr().err


def test_two_different_content_lengths_are_a_400(local_proxy):
    both = f"Content-Length: {len(CHAT)}\r\nContent-Length: {len(CHAT) + 5}\r\n"

    status, _, body = exchange_raw(local_proxy, request(both, CHAT + b"     "))

    assert status == 400
    assert "two different Content-Length" in json.loads(body)["error"]["message"]


def test_the_same_content_length_twice_is_one_length(local_proxy):
    twice = f"Content-Length: {len(CHAT)}\r\nContent-Length: {len(CHAT)}\r\n"
    assert exchange_raw(local_proxy, request(twice))[0] == 200


@pytest.mark.parametrize(
    ("coding", "status"),
    [
        ("chunked, gzip", 400),  # chunked is not the last coding: the body's end is unknown
        ("xchunked", 400),
        ("chunked;x=1", 400),
        ("chunked, chunked", 400),
        ("gzip, chunked", 501),  # a coding the server cannot decode
        ("Chunked", 200),  # coding names are case-insensitive
    ],
)
def test_a_transfer_encoding_is_chunked_only_when_its_last_coding_is_exactly_chunked(local_proxy, coding, status):
    got, headers, _ = exchange_raw(local_proxy, request(f"Transfer-Encoding: {coding}\r\n", chunked()))

    assert got == status
    assert headers["content-type"] == "application/json"


def test_a_transfer_encoding_beside_a_content_length_is_a_400(local_proxy):
    both = f"Transfer-Encoding: chunked\r\nContent-Length: {len(chunked())}\r\n"
    assert exchange_raw(local_proxy, request(both, chunked()))[0] == 400


# ---------------------------------------------------------------- requests that trickle in

PER_READ = 20.0  # a read may wait this long: each trickled byte comes far sooner
IN_ALL = 0.5  # the whole request must have come by then


def trickle(where: tuple[str, int], data: bytes) -> tuple[bytes, float]:
    """Send `data` a byte at a time, about one per 50 ms, until the server answers: (its answer, seconds it took)."""
    started = time.monotonic()
    with socket.create_connection(where, timeout=PER_READ * 2) as conn:
        for i in range(len(data)):
            try:
                conn.sendall(data[i : i + 1])
            except OSError:  # the server answered and closed while this byte was on its way
                break
            if select.select([conn], [], [], 0.05)[0]:
                break
        answer = conn.makefile("rb").read()
    return answer, time.monotonic() - started


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_request_that_trickles_in_is_cut_after_its_time_in_all(proxy_env, part):
    slow_headers = request("X-Slow: " + "a" * 2000 + "\r\n" + f"Content-Length: {len(CHAT)}\r\n")
    slow_body = request(f"Content-Length: {2000 + len(CHAT)}\r\n", CHAT + b" " * 2000)
    data = slow_headers if part == "headers" else slow_body  # 2000 bytes: 100 s at 50 ms a byte

    with local_server(read_timeout=PER_READ, request_seconds=IN_ALL) as where:
        answer, seconds = trickle(where, data)

    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
    assert (error["code"], error["type"]) == ("request_timeout", "invalid_request_error")
    assert seconds < PER_READ  # a read timeout alone would never fire: every byte came in time


# ---------------------------------------------------------------- threads


def test_one_connection_past_the_thread_limit_gets_a_json_503_and_a_freed_slot_serves_again(proxy_env):
    with local_server(read_timeout=PER_READ, max_threads=2) as where, ExitStack() as idle:
        first = idle.enter_context(socket.create_connection(where, timeout=10))
        idle.enter_context(socket.create_connection(where, timeout=10))  # both hold a thread, waiting for a request

        with socket.create_connection(where, timeout=10) as third:
            reply = third.makefile("rb").read()  # answered and closed at once, before sending anything

        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 1" in head
        error = json.loads(body)["error"]
        assert (error["code"], error["type"]) == ("server_busy", "server_error")

        first.close()  # its thread ends and gives its slot back
        assert served_within(where, seconds=10)


def served_within(where: tuple[str, int], seconds: float) -> bool:
    """Whether a health check is answered 200 before `seconds` pass (a freed slot is seen a moment after the close)."""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        status, _, _ = exchange_raw(
            f"http://{where[0]}:{where[1]}/v1", b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        if status == 200:
            return True
        select.select([], [], [], 0.05)
    return False
