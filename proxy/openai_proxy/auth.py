"""Bearer-key authentication: constant-time comparison, key from SSM cached per container.

Reading the key never costs a request more than a bounded share of its deadline, and a failing
SSM is asked again only after a back-off: meanwhile the cached key keeps serving, and a container
that never read the key refuses every request (fail closed) with 503 and Retry-After.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from openai_proxy import aws
from openai_proxy.config import Settings
from openai_proxy.contract import ENV
from openai_proxy.errors import ApiError
from openai_proxy.logs import log_event

if TYPE_CHECKING:
    from openai_proxy.deadline import Deadline

KEY_TTL_SECONDS = 300.0  # a rotated key takes effect within five minutes without a redeploy
MISMATCH_RECHECK_SECONDS = 30.0  # a wrong key may trigger an early re-read, at most this often
REFRESH_BACKOFF_SECONDS = 60.0  # after a failed re-read, the cached key serves this long before SSM is asked again
COLD_RETRY_SECONDS = 5.0  # with no key read yet, a failed read is answered 503 this long without asking SSM again
SSM_MAX_SECONDS = 6.0  # reading the key takes at most this long…
SSM_DEADLINE_SHARE = 1 / 3  # …and at most this share of the request's remaining time

now: Callable[[], float] = time.monotonic


class _KeyState:
    __slots__ = ("checked_at", "failed_at", "fetched_at", "value")

    def __init__(self, value: str | None = None, fetched_at: float = 0.0) -> None:
        self.value = value  # None until a read succeeds: the container refuses every request
        self.fetched_at = fetched_at
        self.checked_at = fetched_at
        self.failed_at: float | None = None  # the last failed read, if it failed since the last success


_keys: dict[str, _KeyState] = {}
_lock = threading.Lock()


def authorize(headers: Mapping[str, str], settings: Settings, deadline: Deadline | None = None) -> None:
    """Raise a 401 ApiError unless the request carries the configured key (a 503 if it cannot be read).

    `deadline`: the request's; reading the key from SSM takes at most a share of what remains of it.
    """
    if settings.auth_mode == "disabled":
        return
    if settings.auth_mode == "missing":
        raise ApiError(
            503,
            f"The proxy has no API key configured (set {ENV.api_key_parameter} or {ENV.api_key}); "
            "it refuses all requests.",
            code="proxy_not_configured",
            detail="no API key configured",
        )
    presented = bearer_token(headers.get("authorization", ""))
    if presented is None:
        raise ApiError(
            401,
            "You didn't provide an API key. Send it in an Authorization header: 'Authorization: Bearer YOUR_KEY'.",
            code="invalid_api_key",
        )
    if settings.api_key_parameter:
        matches = _matches_parameter(presented, settings.api_key_parameter, deadline)
    else:
        matches = _same(presented, settings.api_key or "")
    if not matches:
        raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")


def bearer_token(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def forget_keys() -> None:
    with _lock:
        _keys.clear()


def _same(presented: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def _matches_parameter(presented: str, parameter: str, deadline: Deadline | None) -> bool:
    if _same(presented, _current_key(parameter, deadline)):
        return True
    # The key may have been rotated since we read it: re-read early, but rarely.
    state, t = _keys[parameter], now()
    if t - state.checked_at < MISMATCH_RECHECK_SECONDS:
        return False
    state.checked_at = t
    return _same(presented, _current_key(parameter, deadline, force=True))


def _current_key(parameter: str, deadline: Deadline | None, *, force: bool = False) -> str:
    state = _keys.get(parameter)
    if state is not None and state.value is not None and not force and now() - state.fetched_at < KEY_TTL_SECONDS:
        return state.value  # without the lock: another thread's slow read must not hold up this request
    # One read at a time: a request that waited for another's read finds its result here.
    with _lock:
        state = _keys.get(parameter)
        t = now()
        if state is not None:
            if state.value is not None and not force and t - state.fetched_at < KEY_TTL_SECONDS:
                return state.value
            if state.failed_at is not None and t - state.failed_at < _backoff(state):
                return _cached_or_refuse(state, None)
        try:
            value = _read_parameter(parameter, deadline)
        except Exception as exc:
            state = _keys.setdefault(parameter, _KeyState())
            state.failed_at = now()
            log_event(
                "api_key_read_failed",
                error=type(exc).__name__,
                cached_key_kept=state.value is not None,
                next_read_in_s=_backoff(state),
            )
            return _cached_or_refuse(state, exc)
        _keys[parameter] = _KeyState(value, now())
        return value


def _read_parameter(parameter: str, deadline: Deadline | None) -> str:
    budget = SSM_MAX_SECONDS
    if deadline is not None:
        budget = min(budget, deadline.remaining() * SSM_DEADLINE_SHARE)
    if budget < aws.SSM_MIN_SECONDS:
        raise TimeoutError("no time left in the request to read the key")
    return aws.ssm(budget).get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]


def _backoff(state: _KeyState) -> float:
    return REFRESH_BACKOFF_SECONDS if state.value is not None else COLD_RETRY_SECONDS


def _cached_or_refuse(state: _KeyState, exc: Exception | None) -> str:
    """The key read last time, if there is one; a container that never read it lets nobody in."""
    if state.value is not None:
        return state.value
    wait = COLD_RETRY_SECONDS - (now() - (state.failed_at or 0.0))
    raise ApiError(
        503,
        "The API key could not be read; try again shortly.",
        code="api_key_unavailable",
        retry_after=max(1, math.ceil(wait)),
        detail=f"SSM get_parameter failed: {type(exc).__name__}" if exc else "SSM get_parameter failed moments ago",
    )
