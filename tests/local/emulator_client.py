"""What the runtime emulator's tests share: boto3's client for it, as the proxy makes one, and a container on
127.0.0.1 that the emulator relays to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import boto3
from botocore.config import Config

from tests.fakes import FAKE_AWS


def runtime_client(url: str):
    """boto3's sagemaker-runtime client for the emulator at `url`; one attempt, so each call meets one answer."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


class ContainerHandler(BaseHTTPRequestHandler):
    """A container's handler: subclasses define do_POST and `answer` with a body; nothing is logged."""

    def answer(self, status: int, data: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[ContainerHandler]) -> Iterator[str]:
    """`handler` served on a free port of 127.0.0.1 → its URL; shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
