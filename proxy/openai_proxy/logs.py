"""One JSON line per request on stdout (CloudWatch): counts and timings, never prompts, answers or keys."""

from __future__ import annotations

import json
import sys
from typing import Any


def log_request(**fields: Any) -> None:
    line = json.dumps({k: v for k, v in fields.items() if v is not None}, default=str, separators=(",", ":"))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log_event(event: str, **fields: Any) -> None:
    """A JSON line about the container rather than one request (a failed read of the API key, say)."""
    log_request(event=event, **fields)
