"""A SageMaker control plane on 127.0.0.1 for what moto lacks: DescribeInferenceComponent (and DescribeEndpoint
beside it, since one client talks to one endpoint URL).

It speaks SageMaker's wire protocol (awsJson1_1: POST /, `X-Amz-Target: SageMaker.<Operation>`, a JSON body;
errors as `{"__type": "ValidationException", "message": …}` with HTTP 400), as botocore's sagemaker model
describes it; the unchanged boto3 client reaches it through AWS_ENDPOINT_URL_SAGEMAKER.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


class FakeSageMakerControl:
    """Endpoints and inference components by name; unknown names get SageMaker's ValidationException."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.components: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def add_endpoint(self, name: str, *, status: str = "InService", instances: int = 1, desired: int = 1) -> None:
        self.endpoints[name] = {
            "EndpointName": name,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
            "EndpointConfigName": f"{name}-config",
            "EndpointStatus": status,
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "CurrentInstanceCount": instances, "DesiredInstanceCount": desired}
            ],
            "CreationTime": 1_765_000_000.0,
            "LastModifiedTime": 1_765_000_000.0,
        }

    def add_component(self, name: str, endpoint: str, *, status: str = "InService", copies: int = 1) -> None:
        self.components[name] = {
            "InferenceComponentName": name,
            "InferenceComponentArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/{name}",
            "EndpointName": endpoint,
            "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{endpoint}",
            "VariantName": "AllTraffic",
            "InferenceComponentStatus": status,
            "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
            "CreationTime": 1_765_000_000.0,
            "LastModifiedTime": 1_765_000_000.0,
        }

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append(operation)
        if operation == "DescribeEndpoint":
            found, name = self.endpoints.get(body.get("EndpointName", "")), body.get("EndpointName")
            missing = f'Could not find endpoint "arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}".'
        elif operation == "DescribeInferenceComponent":
            found, name = (
                self.components.get(body.get("InferenceComponentName", "")),
                body.get("InferenceComponentName"),
            )
            missing = f'Could not find inference component "{name}".'
        else:
            return 400, {"__type": "UnknownOperationException", "message": f"{operation} is not faked here"}
        if found is None:
            return 400, {"__type": "ValidationException", "message": missing}
        return 200, found

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free 127.0.0.1 port; yields its URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                status, answer = fake.answer(target.removeprefix("SageMaker."), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
