"""When the proxy must have answered: before API Gateway cuts the request at 30 s with a bare 503."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

MARGIN_SECONDS = 0.5  # time left to build and send the response once generation stops

now: Callable[[], float] = time.monotonic  # tests replace this to move time deterministically


class Deadline:
    """A point in time (on `now`'s clock) after which generation is stopped and the answer sent."""

    __slots__ = ("expires_at",)

    def __init__(self, expires_at: float) -> None:
        self.expires_at = expires_at

    @classmethod
    def for_request(cls, deadline_seconds: float, context: object = None) -> Deadline:
        """min(the configured deadline, the Lambda's remaining time) minus a margin, from now."""
        budget = deadline_seconds
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining_ms):
            with contextlib.suppress(TypeError, ValueError):
                budget = max(min(budget, float(remaining_ms()) / 1000), 0.0)
        return cls(now() + budget - min(MARGIN_SECONDS, budget / 4))

    def remaining(self) -> float:
        return self.expires_at - now()

    def expired(self) -> bool:
        return now() >= self.expires_at
