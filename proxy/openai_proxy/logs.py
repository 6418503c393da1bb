"""One JSON line per request on stdout (CloudWatch): counts and timings, never prompts, answers or keys."""

from __future__ import annotations

import json
import sys
from typing import Any

from openai_proxy.request_metrics import embed_metrics


def log_request(*, with_metrics: bool = False, **fields: Any) -> None:
    """Write one line; `with_metrics` makes it an EMF document whose numbers CloudWatch turns into metrics."""
    record = {k: v for k, v in fields.items() if v is not None}
    if with_metrics:
        record = embed_metrics(record)
    line = json.dumps(record, default=str, separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log_event(event: str, **fields: Any) -> None:
    """A JSON line about the container rather than one request (a failed read of the API key, say)."""
    log_request(event=event, **fields)
