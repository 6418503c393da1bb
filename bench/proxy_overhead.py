"""How much time the proxy itself adds: per request, per streamed chunk, and at cold start.

    uv run python bench/proxy_overhead.py [--requests 300]

SageMaker is answered in-process by a botocore `before-send` handler that returns real
event-stream frames (one PayloadPart per vLLM SSE event, a 200-token answer), so the figures hold
the proxy's work plus botocore's; botocore's own share is measured alone and subtracted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.event_stream import payload_part_frame
from sagemaker_llm_local.local_proxy import LOCAL_AWS, proxy_environment

TOKENS = 200
ENV = LOCAL_AWS | proxy_environment("bench-endpoint", "bench-model", "bench-key")


def container_frames() -> list[bytes]:
    usage = {"prompt_tokens": 20, "completion_tokens": TOKENS, "total_tokens": 20 + TOKENS}
    sse = vllm_chat_sse([f" tok{i}" for i in range(TOKENS)], model="bench-model", usage=usage)
    return [payload_part_frame(part) for part in one_part_per_line(sse)]


class FramesBody:
    """Stands in for urllib3's response: botocore's EventStream reads `stream()`."""

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = frames

    def stream(self, amt: int | None = None, decode_content: bool | None = None):
        yield from self._frames

    def read(self, amt: int | None = None) -> bytes:
        return b""

    def close(self) -> None:
        pass


def install_in_process_sagemaker(frames: list[bytes]) -> None:
    import boto3
    from botocore.awsrequest import AWSResponse

    def answer(request, **kwargs):
        headers = {
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-SageMaker-Content-Type": "text/event-stream",
        }
        return AWSResponse(request.url, 200, headers, FramesBody(frames))

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION._session.register("before-send.sagemaker-runtime.InvokeEndpointWithResponseStream", answer)


def interleaved(fns: dict, n: int) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved so that load drift hits all alike."""
    for fn in fns.values():
        for _ in range(max(5, n // 10)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in samples.items()}


def cold_import_ratio(repeats: int) -> tuple[float, float, float]:
    """Median (boto3 ms, handler ms, ratio) over fresh interpreters.

    Each interpreter imports boto3, then openai_proxy.handler on top: the sum is the handler's cold
    import, and the ratio is taken within one process, so the machine's load drifts out of it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-c", "import openai_proxy.handler"], check=True, env=env
    )  # write .pyc, as a zip should ship them
    code = (
        "import time; t = time.perf_counter(); import boto3; b = time.perf_counter(); "
        "import openai_proxy.handler; h = time.perf_counter(); print(b - t, h - t)"
    )
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        boto3_s, handler_s = map(float, out.stdout.split())
        runs.append((boto3_s, handler_s, handler_s / boto3_s))
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--import-repeats", type=int, default=15)
    args = parser.parse_args()
    os.environ.update(ENV)
    frames = container_frames()
    install_in_process_sagemaker(frames)

    from openai_proxy import aws
    from openai_proxy.contract import OPENAI
    from openai_proxy.deadline import Deadline
    from openai_proxy.handler import handler
    from openai_proxy.openai_objects import ResponseMeta
    from openai_proxy.sse import stream_openai_sse
    from openai_proxy.validation import CompletionRequest

    def event(stream: bool) -> dict:
        body = {"model": "bench-model", "messages": [{"role": "user", "content": "Tell me a story."}], "stream": stream}
        return {
            "version": "2.0",
            "rawPath": "/v1/chat/completions",
            "headers": {"authorization": "Bearer bench-key", "content-type": "application/json"},
            "requestContext": {"http": {"method": "POST"}, "requestId": "bench"},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }

    plain, streamed = event(False), event(True)
    assert json.loads(handler(plain)["body"])["usage"]["completion_tokens"] == TOKENS
    client = aws.sagemaker_runtime(27.5)

    def botocore_alone() -> None:
        response = client.invoke_endpoint_with_response_stream(EndpointName="bench-endpoint", Body=b"{}")
        for _ in response["Body"]:
            pass

    payload = one_part_per_line(vllm_chat_sse([f" tok{i}" for i in range(TOKENS)]))
    request = CompletionRequest(kind="chat", stream=True, max_tokens=1024, messages=[{"role": "user", "content": "x"}])
    meta = ResponseMeta.new("chat", "bench-model")

    def core() -> None:
        list(stream_openai_sse(payload, request, meta, Deadline(time.monotonic() + 60), dialect=OPENAI))

    devnull = open(os.devnull, "w")  # noqa: SIM115 - the log lines would swamp the figures
    real_stdout, sys.stdout = sys.stdout, devnull
    try:
        timings = interleaved(
            {
                "plain": lambda: handler(plain),
                "stream": lambda: handler(streamed),
                "botocore": botocore_alone,
                "core": core,
            },
            args.requests,
        )
    finally:
        sys.stdout = real_stdout
    request_s, stream_s, baseline_s, core_s = (timings[k] for k in ("plain", "stream", "botocore", "core"))
    boto3_s, handler_s, ratio = cold_import_ratio(args.import_repeats)

    ms, us = 1e3, 1e6
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, Python {sys.version.split()[0]}")
    print(f"non-streaming request, {TOKENS}-token answer:")
    print(f"  handler total             {request_s * ms:7.3f} ms")
    print(f"  botocore alone            {baseline_s * ms:7.3f} ms  (invoke + decode {len(frames)} frames)")
    print(f"  proxy's own time          {(request_s - baseline_s) * ms:7.3f} ms  (target <= 1 ms)")
    print("streaming request (buffered SSE body):")
    print(f"  handler total             {stream_s * ms:7.3f} ms")
    print(f"  proxy's own per chunk     {(stream_s - baseline_s) / TOKENS * us:7.1f} us  (target <= 20 us)")
    print(f"  streaming core per chunk  {core_s / TOKENS * us:7.1f} us  (stream_openai_sse alone)")
    print(f"cold import (median of {args.import_repeats} fresh interpreters, bytecode cached):")
    print(f"  import boto3              {boto3_s * ms:7.1f} ms")
    print(f"  import openai_proxy.handler {handler_s * ms:5.1f} ms")
    print(f"  ratio                     {ratio:7.2f}   (target <= 1.1; per process, median)")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
