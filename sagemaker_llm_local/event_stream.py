"""AWS event-stream framing, as SageMaker's InvokeEndpointWithResponseStream writes it.

Each frame: total and headers length (big-endian), the prelude's CRC32, string headers, the
payload, the whole message's CRC32 (botocore's `eventstream.py` parses exactly this).
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING_HEADER = b"\x07"  # header value type 7: a string with a 2-byte length


def encode_event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude, its CRC, string headers, payload, message CRC."""
    encoded = b"".join(
        bytes([len(k)]) + k.encode() + _STRING_HEADER + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def payload_part_frame(data: bytes) -> bytes:
    """A `PayloadPart` event holding some bytes of the container's answer."""
    return encode_event_frame(
        {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"},
        data,
    )


def error_frame(exception_type: str, message: str, error_code: str | None = None) -> bytes:
    """`ModelStreamError` (with ErrorCode) or `InternalStreamFailure`, as SageMaker sends them mid-stream."""
    body: dict[str, Any] = {"Message": message}
    if error_code is not None:
        body["ErrorCode"] = error_code
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_frame(headers, json.dumps(body).encode())
