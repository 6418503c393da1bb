"""boto3 clients, created lazily and once per container.

No explicit endpoint_url: the standard variables (AWS_REGION, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME...)
keep working. Imported at module level so a Lambda pays for boto3 during its init phase.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from openai_proxy.errors import ApiError

_clients: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()  # boto3's default session is not safe to build from two threads at once


def sagemaker_runtime(read_timeout: float) -> Any:
    """A sagemaker-runtime client that waits at most `read_timeout` (rounded up to a second) per read.

    No retries: generation is expensive, and a retry would run past the deadline; the client gets
    429/503 with Retry-After instead and decides itself.
    """
    seconds = max(1, math.ceil(read_timeout))
    return _clients.get(("sagemaker-runtime", seconds)) or _client(
        "sagemaker-runtime",
        seconds,
        lambda: Config(
            connect_timeout=min(3, seconds), read_timeout=seconds, retries={"total_max_attempts": 1}, tcp_keepalive=True
        ),
    )


def ssm() -> Any:
    return _clients.get(("ssm", 0)) or _client(
        "ssm",
        0,
        lambda: Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 3}),
    )


def forget_clients() -> None:
    """Drop the cached clients (tests that change AWS_* variables call this)."""
    with _lock:
        _clients.clear()


def _client(service: str, variant: int, config: Callable[[], Config]) -> Any:
    with _lock:
        client = _clients.get((service, variant))
        if client is None:
            try:
                # boto3 itself reads only AWS_DEFAULT_REGION; Lambda sets both, a laptop often only AWS_REGION.
                region = os.environ.get("AWS_REGION") or None
                client = _clients[(service, variant)] = boto3.client(service, region_name=region, config=config())
            except NoRegionError:
                raise ApiError(
                    500,
                    "The proxy has no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION).",
                    code="configuration_error",
                ) from None
    return client
