"""A model scaled to zero (scaleToZero): SageMaker's "no capacity" answer, what the client is told, and
waiting for the model to wake while a streamed chat keeps its connection alive."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from openai_proxy.deadline import Deadline
from openai_proxy.errors import ApiError, StreamFailure
from openai_proxy.generation import GenerationReport
from openai_proxy.sse import sse_event

WAKING_CODE = "model_waking_up"
# Measured cold starts: the alarm (~1 min), an instance (~2 min), image pull and model load (2-6 min).
USUAL_WAKE_MINUTES = "5 to 10"
RETRY_AFTER_SECONDS = 60
KEEPALIVE = b": waking\n\n"  # an SSE comment: clients skip it, the connection stays busy
# Seconds between attempts while waiting (then the last one, repeated). Each failed attempt counts
# in NoCapacityInvocationFailures, which keeps the idle alarm from putting the waking model back to sleep.
RETRY_SCHEDULE: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0)
KEEPALIVE_SECONDS = 10.0
MIN_ANSWER_SECONDS = 60.0  # stop waiting when less than this is left to generate the answer

T = TypeVar("T")


def is_no_capacity(code: str, message: str) -> bool:
    """SageMaker's answer for an inference component with no copy running: a 400 ValidationError
    "Inference Component has no capacity to process this request. ..."."""
    return code == "ValidationError" and "no capacity" in message.lower()


def model_waking_up(detail: str | None = None) -> ApiError:
    """503 with Retry-After: the model is starting; the failed call already asked SageMaker for an instance."""
    return ApiError(
        503,
        "The model was scaled to zero while idle and is starting now; "
        f"this usually takes {USUAL_WAKE_MINUTES} minutes. Try again in a minute.",
        code=WAKING_CODE,
        retry_after=RETRY_AFTER_SECONDS,
        detail=detail,
    )


def stream_when_awake(
    open_parts: Callable[[], T],
    stream: Callable[[T], Iterator[bytes]],
    deadline: Deadline,
    on_give_up: Callable[[ApiError], bytes],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """Send SSE keep-alives and re-try `open_parts` with back-off until the model answers, then stream it.

    Gives up (yielding `on_give_up(error)`, an error event) when another error comes back, or when
    waiting longer would leave less than MIN_ANSWER_SECONDS of the deadline to answer.
    """
    yield KEEPALIVE
    attempt = 0
    while True:
        delay = RETRY_SCHEDULE[min(attempt, len(RETRY_SCHEDULE) - 1)]
        attempt += 1
        if deadline.remaining() - delay < MIN_ANSWER_SECONDS:
            yield on_give_up(model_waking_up("gave up waiting before the deadline"))
            return
        while delay > 0:
            step = min(KEEPALIVE_SECONDS, delay)
            sleep(step)
            delay -= step
            yield KEEPALIVE
        try:
            parts = open_parts()
        except ApiError as error:
            if error.code == WAKING_CODE:
                continue
            yield on_give_up(error)
            return
        yield from stream(parts)
        return


def give_up_event(error: ApiError, report: GenerationReport) -> bytes:
    """The OpenAI error event that ends a stream whose model never answered; also recorded for the log."""
    report.error = StreamFailure(error.message, error.code or error.type)
    return sse_event(error.body())
