"""A streaming handler for the wrapper-script test: echoes the event back in two chunks."""

import json

from openai_proxy.lambda_runtime import StreamingResponse


def stream_handler(event, context):
    def body():
        yield b"data: " + json.dumps({"request": context.aws_request_id, "event": event}).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(200, {"content-type": "text/event-stream"}, body())
