"""Bearer-key authentication: constant-time comparison, key from SSM cached per container."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Mapping

from openai_proxy import aws
from openai_proxy.config import Settings
from openai_proxy.errors import ApiError

KEY_TTL_SECONDS = 300.0  # a rotated key takes effect within five minutes without a redeploy
MISMATCH_RECHECK_SECONDS = 30.0  # a wrong key may trigger an early re-read, at most this often

now: Callable[[], float] = time.monotonic


class _CachedKey:
    __slots__ = ("checked_at", "fetched_at", "value")

    def __init__(self, value: str, fetched_at: float) -> None:
        self.value = value
        self.fetched_at = fetched_at
        self.checked_at = fetched_at


_keys: dict[str, _CachedKey] = {}
_lock = threading.Lock()


def authorize(headers: Mapping[str, str], settings: Settings) -> None:
    """Raise a 401 ApiError unless the request carries the configured key."""
    if settings.auth_mode == "disabled":
        return
    if settings.auth_mode == "missing":
        raise ApiError(
            503,
            "The proxy has no API key configured (set API_KEY_PARAMETER or API_KEY); it refuses all requests.",
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
        matches = _matches_parameter(presented, settings.api_key_parameter)
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


def _matches_parameter(presented: str, parameter: str) -> bool:
    cached = _current_key(parameter)
    if _same(presented, cached.value):
        return True
    # The key may have been rotated since we read it: re-read early, but rarely.
    t = now()
    if t - cached.checked_at < MISMATCH_RECHECK_SECONDS:
        return False
    cached.checked_at = t
    return _same(presented, _current_key(parameter, force=True).value)


def _current_key(parameter: str, *, force: bool = False) -> _CachedKey:
    cached = _keys.get(parameter)
    t = now()
    if cached is not None and not force and t - cached.fetched_at < KEY_TTL_SECONDS:
        return cached
    with _lock:
        try:
            value = aws.ssm().get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        except Exception as exc:
            if cached is not None:  # keep serving with the key we have; SSM may be back next time
                return cached
            raise ApiError(
                503,
                "The API key could not be read; try again shortly.",
                code="api_key_unavailable",
                retry_after=5,
                detail=f"SSM get_parameter failed: {type(exc).__name__}",
            ) from exc
        fresh = _keys[parameter] = _CachedKey(value, t)
        return fresh
