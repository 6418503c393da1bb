"""Hand-built API Gateway payload-format-2.0 events, as the HTTP API delivers them."""

from __future__ import annotations

import base64
import json
from typing import Any

API_KEY = "test-key-0123456789"
MODEL_ID = "test-model"
ENDPOINT = "fake-endpoint"


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = API_KEY,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    stage: str = "$default",
) -> dict:
    """An event for `method path`; a dict/list body is JSON-encoded; `key=None` sends no Authorization."""
    all_headers = {"content-type": "application/json", "user-agent": "tests", **(headers or {})}
    if key is not None:
        all_headers["authorization"] = f"Bearer {key}"
    if body is not None and not isinstance(body, str | bytes):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    text = None
    if body is not None:
        text = base64.b64encode(body).decode() if base64_body else body.decode()
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "tests",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": stage,
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "body": text,
        "isBase64Encoded": base64_body,
    }


def chat(content: str = "Hi there", **fields: Any) -> dict:
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": content}], **fields}


def body_of(response: dict) -> Any:
    return json.loads(response["body"])


def sse_events(response: dict) -> list[Any]:
    """The `data:` payloads of a buffered event-stream body, JSON-decoded ([DONE] kept as a string)."""
    events = []
    for block in response["body"].split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def streamed_text(events: list[Any]) -> str:
    text = ""
    for event in events:
        if isinstance(event, dict) and event.get("choices"):
            choice = event["choices"][0]
            text += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
    return text
