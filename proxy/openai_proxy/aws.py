"""boto3 clients, created lazily and once per container.

No explicit endpoint_url: the standard variables (AWS_REGION, AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME...)
keep working. Imported at module level so a Lambda pays for boto3 during its init phase.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from openai_proxy.errors import ApiError

MAX_CLIENTS_PER_SERVICE = 4
"""Clients kept per service, the least recently used dropped first (each is about 127 KB): a streamed
request waiting for a model to wake asks for a new read timeout at every attempt."""

_clients: OrderedDict[tuple[str, float], Any] = OrderedDict()  # least recently used first
_cache_lock = threading.Lock()
_lock = threading.Lock()  # boto3's default session is not safe to build from two threads at once


def sagemaker_runtime(read_timeout: float) -> Any:
    """A sagemaker-runtime client that waits at most `read_timeout` (rounded up to a second) per read.

    No retries: generation is expensive, and a retry would run past the deadline; the client gets
    429/503 with Retry-After instead and decides itself.
    """
    seconds = max(1, math.ceil(read_timeout))
    return _cached(("sagemaker-runtime", seconds)) or _client(
        "sagemaker-runtime",
        seconds,
        lambda: Config(
            connect_timeout=min(3, seconds), read_timeout=seconds, retries={"total_max_attempts": 1}, tcp_keepalive=True
        ),
    )


SSM_MIN_SECONDS = 0.5
"""Below this, there is no time to read the key from SSM at all."""
SSM_ATTEMPT_SECONDS = 3.0
"""At most this long per GetParameter attempt (it normally answers in well under a second)."""


def ssm(budget_seconds: float) -> Any:
    """An SSM client whose call, its retries and their back-off included, ends within `budget_seconds`.

    The budget is rounded down to half seconds (at least SSM_MIN_SECONDS), so a container keeps a
    few clients at most: in practice one, as the key is read when a request starts.
    """
    budget = max(SSM_MIN_SECONDS, math.floor(budget_seconds * 2) / 2)
    return _cached(("ssm", budget)) or _client("ssm", budget, lambda: ssm_config(budget))


def ssm_limits(budget_seconds: float) -> tuple[float, float, int]:
    """(connect timeout, read timeout, attempts) whose worst case fits in `budget_seconds`.

    Worst case: every attempt waits its connect and read timeouts, and the standard retry mode
    sleeps up to 1 s after the first failure and 2 s after the second (random * 2^(attempt-1)).
    Three attempts when each still gets 1.5 s, else two, else one that gets the whole budget.
    """
    for attempts in (3, 2):
        per_attempt = (budget_seconds - (2 ** (attempts - 1) - 1)) / attempts
        if per_attempt >= 1.5:
            break
    else:
        attempts, per_attempt = 1, budget_seconds
    per_attempt = min(per_attempt, SSM_ATTEMPT_SECONDS)
    connect = min(1.0, per_attempt / 3)
    return connect, per_attempt - connect, attempts


def ssm_config(budget_seconds: float) -> Config:
    connect, read, attempts = ssm_limits(budget_seconds)
    return Config(
        connect_timeout=connect, read_timeout=read, retries={"mode": "standard", "total_max_attempts": attempts}
    )


def forget_clients() -> None:
    """Drop the cached clients (tests that change AWS_* variables call this)."""
    with _lock, _cache_lock:
        _clients.clear()


def _cached(key: tuple[str, float]) -> Any:
    with _cache_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
        return client


def _client(service: str, variant: float, config: Callable[[], Config]) -> Any:
    with _lock:
        client = _cached((service, variant))
        if client is None:
            try:
                # boto3 itself reads only AWS_DEFAULT_REGION; Lambda sets both, a laptop often only AWS_REGION.
                region = os.environ.get("AWS_REGION") or None
                client = boto3.client(service, region_name=region, config=config())
            except NoRegionError:
                raise ApiError(
                    500,
                    "The proxy has no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION).",
                    code="configuration_error",
                ) from None
            with _cache_lock:
                _clients[(service, variant)] = client
                for key in [key for key in _clients if key[0] == service][:-MAX_CLIENTS_PER_SERVICE]:
                    del _clients[key]
    return client
