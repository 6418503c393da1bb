"""A Lambda Runtime API loop that streams responses, in the standard library only.

Lambda's managed Python runtime returns a handler's result in one piece. API Gateway REST APIs
can stream a Lambda's answer (`responseTransferMode: STREAM`), but only if the function writes
it through the Runtime API's streaming response mode. This module is that runtime: the managed
Python runtime starts it through `AWS_LAMBDA_EXEC_WRAPPER` (see `bootstrap` next to it), and it
serves invocation after invocation with one streaming handler.

The contract, as documented (and as AWS's own runtime clients implement it):

- Runtime API, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html:
  `GET /2018-06-01/runtime/invocation/next` (no timeout; the event is the body, the headers
  `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`, `-Trace-Id`,
  `-Client-Context`, `-Cognito-Identity` describe it), `POST …/invocation/{id}/response`,
  `POST …/invocation/{id}/error` and `POST /2018-06-01/runtime/init/error` with
  `{"errorMessage", "errorType", "stackTrace"}` and the `Lambda-Runtime-Function-Error-Type`
  header. The trace id goes to `_X_AMZN_TRACE_ID`.
- Streaming a response, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html
  (section "Implementing response streaming in a custom runtime") and
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html: the
  response POST carries `Lambda-Runtime-Function-Response-Mode: streaming` and
  `Transfer-Encoding: chunked`; an error after the body has started ends the stream with the
  HTTP trailers `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body`
  (base64 of the error JSON). Once the response is written, the runtime closes the connection
  ("send the response in chunks, then close the connection"); the next `invocation/next` goes
  out on a new one. Reference implementation: aws/aws-lambda-nodejs-runtime-interface-client
  `src/ResponseStream.js` and `src/HttpResponseStream.js`.
- HTTP integrations, https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html
  and https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html:
  with `Content-Type: application/vnd.awslambda.http-integration-response` the stream starts
  with a JSON prelude `{"statusCode", "headers", "multiValueHeaders", "cookies"}` (within the
  first 16 KB), then 8 NUL bytes, then the raw body. API Gateway invokes the function through
  `…/2021-11-15/functions/<arn>/response-streaming-invocations` and starts answering the client
  once it has the prelude and the delimiter; a stream may last 15 minutes.
- Wrapper scripts, https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html#runtime-wrapper:
  the managed runtime runs `$AWS_LAMBDA_EXEC_WRAPPER <python> <its bootstrap> …`.

A streaming handler is `handler(event, context) -> StreamingResponse`. Its status and headers
are final when it returns: the prelude goes out at once, then each body chunk as soon as the
body iterator yields it. An exception from the handler itself is posted to /error; an exception
from the body, once the prelude is out, ends the stream with the error trailers, after the
bytes of `StreamingResponse.on_error` (an OpenAI error event, say) have been written in-band.
A handler may also return a buffered proxy-integration dict (`statusCode`, `headers`, `body`…):
it is sent as a stream of one chunk.
"""

from __future__ import annotations

import base64
import http.client
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

API_PREFIX = "/2018-06-01/runtime"
HTTP_INTEGRATION_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\x00" * 8
MAX_PRELUDE_BYTES = 16 * 1024
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
DEFAULT_STREAMING_HANDLER = "openai_proxy.handler.stream_handler"
"""Used when neither STREAMING_HANDLER nor _HANDLER names one (see `resolve_handler`)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamingResponse:
    """What a streaming handler returns: status and headers first, then the body as it comes."""

    status: int
    """HTTP status sent to the client (in the prelude, before any body byte)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Response headers, e.g. `{"content-type": "text/event-stream"}`."""
    body: Iterable[bytes] = ()
    """Body chunks; each one is flushed to the client as soon as it is yielded. Empty ones are skipped."""
    cookies: Sequence[str] = ()
    """`Set-Cookie` values, if any."""
    on_error: Callable[[BaseException], bytes | None] | None = None
    """Called when `body` raises after the stream started; its bytes are written before the stream ends."""

    def prelude(self) -> bytes:
        """The JSON prelude and the 8-NUL delimiter that open an HTTP-integration stream."""
        if not isinstance(self.status, int) or not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        headers = {str(name): str(value) for name, value in self.headers.items()}
        metadata: dict[str, Any] = {"statusCode": self.status, "headers": headers}
        if self.cookies:
            metadata["cookies"] = [str(cookie) for cookie in self.cookies]
        # json.dumps escapes control characters, so the prelude can never contain the delimiter.
        encoded = json.dumps(metadata, separators=(",", ":")).encode()
        if len(encoded) > MAX_PRELUDE_BYTES:
            raise ValueError(f"response prelude is {len(encoded)} bytes; API Gateway reads at most {MAX_PRELUDE_BYTES}")
        return encoded + PRELUDE_DELIMITER


StreamHandler = Callable[[Any, "LambdaContext"], "StreamingResponse | Mapping[str, Any]"]


@dataclass(frozen=True)
class Invocation:
    """One event from `GET /runtime/invocation/next`."""

    request_id: str
    body: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None


class LambdaContext:
    """The context object handlers know from the managed runtime (the attributes the proxy uses)."""

    def __init__(self, invocation: Invocation, environ: Mapping[str, str] = os.environ) -> None:
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.invoked_function_arn
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = _json_or_none(invocation.client_context)
        self.identity = _json_or_none(invocation.cognito_identity)
        self._deadline_ms = invocation.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class RuntimeApiError(Exception):
    """The Runtime API answered something other than what the contract promises."""


class RuntimeApiClient:
    """The four Runtime API calls over HTTP/1.1 (TCP_NODELAY set by http.client): kept alive between
    calls, except that a streamed response closes its connection when it ends, as the contract says."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._connection = http.client.HTTPConnection(address, timeout=None)

    def next_invocation(self) -> Invocation:
        status, headers, body = self._call("GET", f"{API_PREFIX}/invocation/next")
        if status != 200:
            raise RuntimeApiError(f"invocation/next answered {status}: {body[:200]!r}")
        return Invocation(
            request_id=headers.get("Lambda-Runtime-Aws-Request-Id", ""),
            body=body,
            deadline_ms=int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            invoked_function_arn=headers.get("Lambda-Runtime-Invoked-Function-Arn", ""),
            trace_id=headers.get("Lambda-Runtime-Trace-Id"),
            client_context=headers.get("Lambda-Runtime-Client-Context"),
            cognito_identity=headers.get("Lambda-Runtime-Cognito-Identity"),
        )

    def post_invocation_error(self, request_id: str, error: dict[str, Any]) -> None:
        self._post_error(f"{API_PREFIX}/invocation/{quote(request_id, safe='')}/error", error)

    def post_init_error(self, error: dict[str, Any]) -> None:
        self._post_error(f"{API_PREFIX}/init/error", error)

    def stream_response(self, request_id: str, response: StreamingResponse, prelude: bytes) -> None:
        """POST the prelude, then every body chunk as it is produced, then the end (or the error trailers)."""
        connection = self._connection
        connection.putrequest(
            "POST", f"{API_PREFIX}/invocation/{quote(request_id, safe='')}/response", skip_accept_encoding=True
        )
        connection.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.putheader("Content-Type", HTTP_INTEGRATION_CONTENT_TYPE)
        connection.putheader("Trailer", f"{ERROR_TYPE_HEADER}, {ERROR_BODY_TRAILER}")
        connection.endheaders()
        _send_chunk(connection, prelude)
        failure = _pump(connection, response)
        if failure is None:
            connection.send(b"0\r\n\r\n")
        else:
            error = error_json(failure, request_id)
            error_body = base64.b64encode(json.dumps(error).encode()).decode("ascii")
            trailers = f"{ERROR_TYPE_HEADER}: {error['errorType']}\r\n{ERROR_BODY_TRAILER}: {error_body}\r\n"
            connection.send(f"0\r\n{trailers}\r\n".encode())
        try:
            answer = connection.getresponse()
            text = answer.read()
        finally:
            # The contract: close the connection once a streamed response is written; the next call opens a new one.
            connection.close()
        if answer.status != 202:
            raise RuntimeApiError(f"invocation response answered {answer.status}: {text[:200]!r}")

    def reset(self) -> None:
        """Drop the connection after a broken exchange; the next call opens a new one."""
        self._connection.close()

    def _post_error(self, path: str, error: dict[str, Any]) -> None:
        body = json.dumps(error).encode()
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: error["errorType"]}
        status, _, text = self._call("POST", path, body, headers)
        if status != 202:
            raise RuntimeApiError(f"{path} answered {status}: {text[:200]!r}")

    def _call(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        self._connection.request(method, path, body=body, headers=dict(headers or {}))
        answer = self._connection.getresponse()
        return answer.status, answer.headers, answer.read()


def _pump(connection: http.client.HTTPConnection, response: StreamingResponse) -> BaseException | None:
    """Send the body chunk by chunk; return the body's exception (after its in-band bytes), if any."""
    body: Iterator[Any] = iter(_body_iterable(response.body))
    try:
        while True:
            try:
                chunk = _as_bytes(next(body))
            except StopIteration:
                return None
            except Exception as exc:
                log.exception("response stream failed after it started")
                _send_in_band_error(connection, response, exc)
                return exc
            _send_chunk(connection, chunk)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()  # a generator's cleanup (closing the SageMaker stream) runs even if the socket broke


def _send_in_band_error(connection: http.client.HTTPConnection, response: StreamingResponse, exc: Exception) -> None:
    if response.on_error is None:
        return
    try:
        data = response.on_error(exc)
    except Exception:
        log.exception("on_error failed; ending the stream without an in-band error")
        return
    if data:
        _send_chunk(connection, _as_bytes(data))


def _send_chunk(connection: http.client.HTTPConnection, data: bytes) -> None:
    # One sendall per chunk (size line, data, CRLF), so each chunk leaves at once; a zero-size chunk
    # would end the stream, so empty ones are skipped.
    if data:
        connection.send(b"%x\r\n%b\r\n" % (len(data), data))


def _body_iterable(body: Any) -> Iterable[Any]:
    if isinstance(body, bytes | bytearray | memoryview | str):
        return (body,)
    return body


def _as_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode("utf-8", "backslashreplace")  # a lone surrogate must not end the stream
    raise TypeError(f"body chunks must be bytes, got {type(chunk).__name__}")


def as_streaming_response(result: StreamingResponse | Mapping[str, Any]) -> StreamingResponse:
    """Accept a StreamingResponse, or a buffered proxy-integration dict sent as one chunk."""
    if isinstance(result, StreamingResponse):
        return result
    if not isinstance(result, Mapping):
        raise TypeError(f"a streaming handler returns a StreamingResponse, got {type(result).__name__}")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else _as_bytes(body)
    return StreamingResponse(
        status=int(result.get("statusCode", 200)),
        headers=dict(result.get("headers") or {}),
        body=(data,),
        cookies=tuple(result.get("cookies") or ()),
    )


def error_json(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """The Runtime API's error document. The traceback goes to the log, not to the caller."""
    error: dict[str, Any] = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
    if request_id is not None:
        error["requestId"] = request_id
    return error


def handle_invocation(client: RuntimeApiClient, handler: StreamHandler, invocation: Invocation) -> None:
    """Run one invocation: handler errors go to /error, body errors end the stream with trailers."""
    _set_trace_id(invocation.trace_id)
    try:
        event = json.loads(invocation.body) if invocation.body else {}
        response = as_streaming_response(handler(event, LambdaContext(invocation)))
        prelude = response.prelude()
    except Exception as exc:
        log.exception("handler failed before the response started (request %s)", invocation.request_id)
        client.post_invocation_error(invocation.request_id, error_json(exc, invocation.request_id))
        return
    try:
        client.stream_response(invocation.request_id, response, prelude)
    except (OSError, http.client.HTTPException, RuntimeApiError):
        log.exception("lost the Runtime API while streaming (request %s)", invocation.request_id)
        client.reset()


def serve(handler: StreamHandler, client: RuntimeApiClient, *, max_invocations: int | None = None) -> None:
    """Serve invocations forever (or `max_invocations` of them); a failing `next` ends the loop."""
    served = 0
    while max_invocations is None or served < max_invocations:
        handle_invocation(client, handler, client.next_invocation())
        served += 1


def resolve_handler(environ: Mapping[str, str] = os.environ) -> StreamHandler:
    """The hook that picks the streaming handler: `STREAMING_HANDLER`, else the function's
    `_HANDLER`, else `DEFAULT_STREAMING_HANDLER`; each is `package.module.function`."""
    name = environ.get("STREAMING_HANDLER") or environ.get("_HANDLER") or DEFAULT_STREAMING_HANDLER
    module_name, _, attribute = name.rpartition(".")
    if not module_name or not attribute:
        raise HandlerNotFound(f"handler {name!r} is not of the form package.module.function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportModuleError(f"cannot import {module_name!r} for handler {name!r}: {exc}") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise HandlerNotFound(f"{module_name!r} has no callable {attribute!r}")
    return handler


class ImportModuleError(Exception):
    """The handler's module cannot be imported (reported as `Runtime.ImportModuleError`)."""


class HandlerNotFound(Exception):
    """The handler name is malformed or names nothing callable (`Runtime.HandlerNotFound`)."""


def main() -> None:
    """Entry point of `python -m openai_proxy.lambda_runtime`, started by the exec wrapper."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s %(message)s")
    client = RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = resolve_handler()
    except Exception as exc:
        log.exception("cannot load the streaming handler")
        error = error_json(exc)
        error["errorType"] = f"Runtime.{type(exc).__name__}"
        client.post_init_error(error)
        client.reset()
        raise SystemExit(1) from exc
    serve(handler, client)


def _set_trace_id(trace_id: str | None) -> None:
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)


def _json_or_none(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


if __name__ == "__main__":
    # `python -m` runs this file as __main__; run the package's copy so that handlers importing
    # StreamingResponse from openai_proxy.lambda_runtime get the class this loop checks for.
    importlib.import_module("openai_proxy.lambda_runtime").main()
