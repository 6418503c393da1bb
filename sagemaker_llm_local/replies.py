"""What the emulated SageMaker runtime answers one invocation with, and what it records of it.

A reply is either SageMaker's own (an `ErrorReply` in AWS's error envelope), a container's answer
relayed (`RelayReply`), or one written out in advance (`StreamReply`, `JsonReply`): tests queue those
to play what no container produces (broken or stalled streams, the LMI and TGI formats).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
"""The account the emulator answers for (it appears in SageMaker's error messages)."""
REGION = "us-east-1"


@dataclass
class StreamReply:
    """Answer the next request with these payload parts (any path), then optionally an error frame.

    `hold_after=n` sends n parts and then waits until `release` is set (or the emulator stops),
    like a model that stalls mid-answer.
    """

    parts: list[bytes]
    content_type: str = "text/event-stream"
    error: tuple[str, str] | None = None  # (ModelStreamError | InternalStreamFailure, message)
    hold_after: int | None = None
    raw_tail: bytes = b""  # written as is after the parts' frames: e.g. a frame with a bad checksum
    release: threading.Event = field(default_factory=threading.Event)
    sent: threading.Event = field(default_factory=threading.Event)  # set once all parts were written


@dataclass
class JsonReply:
    """Answer the next request (a plain /invocations call) with this JSON body."""

    body: Any
    status: int = 200


@dataclass
class ErrorReply:
    """An HTTP error as SageMaker returns it: status, `x-amzn-ErrorType`, AWS error JSON."""

    status: int
    code: str
    message: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def validation(cls, message: str) -> ErrorReply:
        return cls(400, "ValidationError", message)

    @classmethod
    def endpoint_not_found(cls, name: str = "fake-endpoint") -> ErrorReply:
        return cls(400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")

    @classmethod
    def inference_component_required(cls) -> ErrorReply:
        """An endpoint that hosts inference components, invoked without naming one (quoted in langchain-ai/langchain
        issue 16150; the body's ErrorCode in BerriAI/litellm pull 37766)."""
        return cls(
            400,
            "ValidationError",
            "Inference Component Name header is required for endpoints to which you plan to deploy inference "
            "components. Please include Inference Component Name header or consider using SageMaker models.",
            {"ErrorCode": "INFERENCE_COMPONENT_NAME_MISSING"},
        )

    @classmethod
    def inference_component_not_found(cls, name: str) -> ErrorReply:
        # Not sourced: AWS's wording for an unknown component is not published; the type is the endpoint's.
        return cls(400, "ValidationError", f"Inference component {name} of account {ACCOUNT} not found.")

    @classmethod
    def model_error(cls, original_status: int, original_message: str, endpoint: str = "fake-endpoint") -> ErrorReply:
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
        side = "server" if original_status >= 500 else "client"  # SageMaker's words for a container 5xx / 4xx
        return cls(
            424,
            "ModelError",
            f'Received {side} error ({original_status}) from primary with message "{original_message}". '
            f"See {arn} in account {ACCOUNT} for more information.",
            {"OriginalStatusCode": original_status, "OriginalMessage": original_message, "LogStreamArn": arn},
        )

    @classmethod
    def throttling(cls) -> ErrorReply:
        return cls(400, "ThrottlingException", "Rate exceeded")

    @classmethod
    def service_unavailable(cls) -> ErrorReply:
        return cls(503, "ServiceUnavailable", "Service is unavailable. Try again later.")

    @classmethod
    def model_not_ready(cls) -> ErrorReply:
        return cls(429, "ModelNotReadyException", "Model for endpoint fake-endpoint is not ready.")

    @classmethod
    def internal_failure(cls) -> ErrorReply:
        return cls(500, "InternalFailure", "An internal failure occurred.")

    @classmethod
    def no_capacity(cls) -> ErrorReply:
        """An inference component scaled to zero copies (AWS blog "scale down to zero", 2024-12)."""
        return cls(
            400,
            "ValidationError",
            "Inference Component has no capacity to process this request. ApplicationAutoScaling may be "
            "in-progress (if configured) or try to increase the capacity by invoking "
            "UpdateInferenceComponentRuntimeConfig API.",
        )


@dataclass(frozen=True)
class RelayReply:
    """Answer with what the container at `url` answers on its /invocations (see sagemaker_runtime)."""

    url: str
    timeout: float = 300.0  # seconds without a byte from the container; SageMaker's streams allow 8 min
    headers: tuple[tuple[str, str], ...] = ()
    """Headers SageMaker adds to the container's request (an adapter component's identifier)."""
    endpoint: str = "fake-endpoint"
    """Named in the ModelError of a container's 4xx/5xx."""


Reply = StreamReply | JsonReply | ErrorReply | RelayReply


@dataclass
class RecordedRequest:
    """One invocation as it arrived: path, endpoint name, headers (lower-cased) and body."""

    path: str
    endpoint: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def streaming(self) -> bool:
        return self.path.endswith("/invocations-response-stream")

    @property
    def inference_component(self) -> str:
        """The `InferenceComponentName` boto3 sent, or ""."""
        return self.headers.get("x-amzn-sagemaker-inference-component", "")
