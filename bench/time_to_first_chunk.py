"""Time to the first streamed token through the local server, minus the endpoint's own time to first token.

    uv run python bench/time_to_first_chunk.py [--runs 200]

The SageMaker runtime emulator (sagemaker_llm_local, real event-stream framing over HTTP on 127.0.0.1)
plays a vLLM endpoint streaming a 50-token chat answer, one PayloadPart per event; the proxy runs as the
tests run it (sagemaker_llm_local.local_proxy). Each run measures

- direct: boto3 `invoke_endpoint_with_response_stream` straight to the fake, until the PayloadPart
  holding the first token (the endpoint's own time to first token, as a client next to it sees it);
- proxied: an HTTP client POSTing `stream: true` to `openai-proxy` (which calls the same fake),
  until the chunk holding the first token arrives on the wire.

Both read the first *token*: the proxy sends its role chunk before the model has answered at all.
The figure is the median of (proxied - direct) over the runs, after a few warm-up runs (the first
request builds the boto3 client). Goal: <= 50 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.local_proxy import local_proxy_server, proxy_environment, runtime_environment
from sagemaker_llm_local.replies import StreamReply
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime

TOKENS = [f" tok{i}" for i in range(50)]
FIRST = b'"content":" tok0"'
WARMUP = 5
BODY = json.dumps({"model": "bench-model", "messages": [{"role": "user", "content": "Hi"}], "stream": True})


def direct_ttft(client) -> float:
    """Seconds until the endpoint's first token reaches a boto3 client."""
    started = time.perf_counter()
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="bench-endpoint", Body=BODY.encode(), ContentType="application/json"
    )
    stream = response["Body"]
    try:
        for event in stream:
            if b"tok0" in event.get("PayloadPart", {}).get("Bytes", b""):
                return time.perf_counter() - started
    finally:
        for _ in stream:  # read to the end, so the connection is reused cleanly
            pass
    raise RuntimeError("no first token from the fake endpoint")


def proxied_ttfc(host: str, port: int) -> float:
    """Seconds until the chunk holding the first token arrives from the local server."""
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request(
            "POST",
            "/v1/chat/completions",
            BODY,
            {"Authorization": "Bearer bench-key", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        seen = b""
        while True:
            data = response.read1(65536)
            if not data:
                raise RuntimeError("the stream ended without the first token")
            seen += data
            if FIRST in seen:
                elapsed = time.perf_counter() - started
                response.read()
                return elapsed
    finally:
        connection.close()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)

    parts = one_part_per_line(vllm_chat_sse(TOKENS, model="bench-model"))

    runtime = SageMakerRuntime()
    with runtime:
        os.environ.update(runtime_environment(runtime.url))
        os.environ.update(proxy_environment("bench-endpoint", "bench-model", "bench-key"))
        import boto3

        # The proxy's log line goes to stdout; keep the report readable.
        devnull = open(os.devnull, "w")  # noqa: SIM115
        direct_client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        direct, proxied, overhead = [], [], []
        real_stdout = sys.stdout
        with local_proxy_server() as base_url:
            address = urlsplit(base_url)
            for run in range(WARMUP + args.runs):
                runtime.script(StreamReply(parts), StreamReply(parts))  # one answer each for direct and proxied
                sys.stdout = devnull
                try:
                    d = direct_ttft(direct_client)
                    p = proxied_ttfc(address.hostname, address.port)
                finally:
                    sys.stdout = real_stdout
                if run >= WARMUP:
                    direct.append(d)
                    proxied.append(p)
                    overhead.append(p - d)

    ms = 1000
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"runs: {args.runs} (after {WARMUP} warm-up)")
    print(f"endpoint's own time to first token (direct), median: {statistics.median(direct) * ms:.2f} ms")
    print(f"time to first token through openai-proxy, median:    {statistics.median(proxied) * ms:.2f} ms")
    q = statistics.quantiles(overhead, n=20)
    print(
        f"added by the proxy (proxied - direct): median {statistics.median(overhead) * ms:.2f} ms, "
        f"p95 {q[-1] * ms:.2f} ms  (goal <= 50 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
