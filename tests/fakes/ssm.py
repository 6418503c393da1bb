"""A fake SSM on 127.0.0.1 that answers GetParameter as SSM does, for counting and timing the calls.

It speaks SSM's wire protocol (JSON 1.1: `POST /` with `X-Amz-Target: AmazonSSM.GetParameter`,
errors as `{"__type", "message"}`), so the unchanged boto3 client reaches it through
`AWS_ENDPOINT_URL_SSM`, its retries and timeouts included:

    with FakeSsm({"/app/api-key": "key"}) as ssm:
        os.environ["AWS_ENDPOINT_URL_SSM"] = ssm.url
        ssm.mode = "fail"        # each call: 500 InternalServerError (boto3 retries it)
        ssm.mode = "hang"        # each call: no answer until the fake stops (boto3's read timeout)
        len(ssm.calls)           # what reached the wire, retries counted one by one

Real: the request and answer shapes, the status codes and error types boto3 parses.
Scripted: the modes above; no signature check, no KMS (`WithDecryption` is accepted and ignored).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal


class FakeSsm:
    def __init__(self, parameters: dict[str, str] | None = None) -> None:
        self.parameters = dict(parameters or {})
        self.mode: Literal["ok", "fail", "hang"] = "ok"
        self.calls: list[tuple[float, str]] = []
        """(time.monotonic() when it arrived, the parameter's name) of every GetParameter on the wire."""
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeSsm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # lets hanging calls end
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                if target != "AmazonSSM.GetParameter":
                    return self._answer(400, {"__type": "InvalidAction", "message": f"not faked: {target}"})
                name = body.get("Name", "")
                fake.calls.append((time.monotonic(), name))
                if fake.mode == "hang":
                    fake._release.wait()
                    self.close_connection = True
                    return None
                if fake.mode == "fail":
                    return self._answer(500, {"__type": "InternalServerError", "message": "SSM is having a bad day"})
                if name not in fake.parameters:
                    return self._answer(400, {"__type": "ParameterNotFound", "message": ""})
                parameter = {
                    "Name": name,
                    "Type": "SecureString",
                    "Value": fake.parameters[name],
                    "Version": 1,
                    "ARN": f"arn:aws:ssm:us-east-1:123456789012:parameter{name}",
                    "DataType": "text",
                }
                return self._answer(200, {"Parameter": parameter})

            def _answer(self, status: int, document: dict) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
