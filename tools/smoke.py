"""smoke: check a deployed (or local) OpenAI-compatible API and the SageMaker endpoint behind it.

    smoke api --url https://…/api/v1 --key KEY    models, chat, streamed chat, completions, wrong key
    smoke endpoint --name ENDPOINT [--region R]    invoke the endpoint directly, in the backend dialect
    smoke api --stack dev / smoke endpoint --stack dev   read the URL, key and endpoint from the stack
    smoke status --stack dev                       the stack's health: model, alarms, last hour, dashboard

A model scaled to zero (scaleToZero) answers 503 model_waking_up: `smoke api` says so, waits for it
(--wake-timeout, printing progress), then runs its checks.

Prints one row per check (name, PASS/FAIL, latency, detail) and exits 1 when any check fails,
2 when the API cannot be reached or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

DIALECTS = ("openai", "lmi", "tgi")
PROMPT = "Say hello in one short sentence."
MAX_TOKENS = 16
WRONG_KEY = "smoke-test-wrong-key"  # a key the API must refuse
WAKING_CODE = "model_waking_up"  # the proxy's answer while a model scaled to zero starts


class SmokeError(Exception):
    """Stops the run with a one-line message (exit 2): unreachable API, missing CLI, bad stack."""


class CheckFailed(Exception):
    """A check's expectation did not hold; the message is the row's detail."""


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    latency_ms: float
    detail: str


def run_check(name: str, check: Callable[[], str]) -> Result:
    """Runs one check, timing it; SmokeError (unreachable) propagates, anything else is a FAIL row."""
    started = time.perf_counter()
    try:
        detail, passed = check(), True
    except SmokeError:
        raise
    except CheckFailed as failure:
        detail, passed = str(failure), False
    except Exception as error:  # a check must report, never crash the table
        detail, passed = f"{type(error).__name__}: {error}", False
    return Result(name, passed, (time.perf_counter() - started) * 1000, _one_line(detail))


def print_row(result: Result) -> None:
    status = "PASS" if result.passed else "FAIL"
    print(f"{result.name:<16} {status:<4} {result.latency_ms:>8.0f} ms  {result.detail}", flush=True)


def _one_line(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    base_url: str
    key: str
    timeout: float = 60.0

    def request(self, method: str, path: str, body: Any = None, key: str | None = None) -> urllib.request.Request:
        url = self.base_url.rstrip("/") + path
        if not url.startswith(("http://", "https://")):
            raise SmokeError(f"the API URL must start with http:// or https://, not {self.base_url!r}")
        headers = {"Authorization": f"Bearer {self.key if key is None else key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - checked above

    def open(self, request: urllib.request.Request):
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 - scheme checked in request()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise SmokeError(f"cannot reach the API at {self.base_url}: {reason}") from None

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        """(status, parsed JSON body) of one request; HTTP errors are returned, not raised."""
        try:
            with self.open(self.request(method, path, body, key)) as response:
                return response.status, _json_or_text(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, _json_or_text(error.read())

    def stream(self, path: str, body: Any) -> Iterator[str]:
        """The `data:` payloads of a server-sent-events response."""
        try:
            response = self.open(self.request("POST", path, body))
        except urllib.error.HTTPError as error:
            with error:
                raise CheckFailed(_http_failure(error.code, _json_or_text(error.read()))) from None
        with response:
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    yield line.removeprefix("data:").strip()


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _http_failure(status: int, body: Any) -> str:
    message = _error_field(body, "message")
    if message is None and isinstance(body, dict):
        message = body.get("message") or body.get("error")
    return f"HTTP {status}: {message or body}"


def _error_field(body: Any, name: str) -> Any:
    """`body["error"][name]` of an OpenAI error, else None (a gateway's or another server's body)."""
    error = body.get("error") if isinstance(body, dict) else None
    return error.get(name) if isinstance(error, dict) else None


def _expect_ok(status: int, body: Any) -> dict:
    if status != 200:
        raise CheckFailed(_http_failure(status, body))
    if not isinstance(body, dict):
        raise CheckFailed(f"not a JSON object: {body!r}")
    return body


@dataclass(frozen=True)
class Waking:
    """How long `smoke api` waits for a model scaled to zero, and how often it asks."""

    timeout: float = 900.0
    interval: float = 15.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def wait_until_awake(api: Api, model: str, waking: Waking) -> tuple[Result | None, tuple[int, Any]]:
    """Send the chat check's request until the model answers it: (a "wake" row if it had to wake,
    the last answer). A model that is up costs no extra request: its answer is the chat check's."""
    started = waking.clock()
    announced = False
    while True:
        status, answer = api.call("POST", "/chat/completions", _chat_body(model))
        elapsed = waking.clock() - started
        if status != 503 or _error_field(answer, "code") != WAKING_CODE:
            if not announced:
                return None, (status, answer)
            woke = Result("wake", True, elapsed * 1000, f"the model answered after {_minutes(elapsed)}")
            return woke, (status, answer)
        if not announced:
            print(f"scaled to zero, waking it (usually 5 to 10 minutes; waiting up to {_minutes(waking.timeout)})")
            announced = True
        else:
            print(f"  still waking after {_minutes(elapsed)}", flush=True)
        if elapsed + waking.interval > waking.timeout:
            failed = Result("wake", False, elapsed * 1000, f"the model did not wake within {_minutes(waking.timeout)}")
            return failed, (status, answer)
        waking.sleep(waking.interval)


def _minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def api_checks(api: Api, model: str | None, waking: Waking | None = None) -> Iterator[Result]:
    chosen: dict[str, str] = {}
    first_chat: list[tuple[int, Any] | Exception] = []  # the answer wait_until_awake already got, or its failure

    def models() -> str:
        status, answer = api.call("GET", "/models")
        if status in (403, 404):  # the gateways' answer to a path they do not serve
            raise CheckFailed(f"HTTP {status} for /models: give the stack's apiUrl (…/api/v1; …/v1 if not streaming)")
        body = _expect_ok(status, answer)
        ids = [entry.get("id") for entry in body.get("data", [])]
        if not ids:
            raise CheckFailed("no model listed")
        if model and model not in ids:
            raise CheckFailed(f"{model!r} not among {ids}")
        chosen["model"] = model or ids[0]
        return f"{len(ids)} model(s): {', '.join(ids)}"

    def chat() -> str:
        answer = first_chat.pop() if first_chat else api.call("POST", "/chat/completions", _chat_body(chosen["model"]))
        if isinstance(answer, Exception):
            raise answer
        body = _expect_ok(*answer)
        content = body["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise CheckFailed(f"no message content: {body['choices'][0]}")
        return f"{body['choices'][0].get('finish_reason')}: {content!r}"

    def chat_stream() -> str:
        parts, chunks, done, first_ms = [], 0, False, 0.0
        started = time.perf_counter()
        for payload in api.stream("/chat/completions", {**_chat_body(chosen["model"]), "stream": True}):
            first_ms = first_ms or (time.perf_counter() - started) * 1000
            if payload == "[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                raise CheckFailed(f"error in stream: {chunk['error'].get('message')}")
            chunks += 1
            for choice in chunk.get("choices", []):
                parts.append(choice.get("delta", {}).get("content") or "")
        if not done:
            raise CheckFailed(f"stream ended without [DONE] after {chunks} chunk(s)")
        if chunks == 0:
            raise CheckFailed("no chunk before [DONE]")
        # A streaming API's first chunk comes well before the end; a buffered one's comes with it.
        return f"{chunks} chunk(s), the first after {first_ms:.0f} ms: {''.join(parts)!r}"

    def completions() -> str:
        request = {"model": chosen["model"], "prompt": PROMPT, "max_tokens": MAX_TOKENS}
        body = _expect_ok(*api.call("POST", "/completions", request))
        text = body["choices"][0]["text"]
        if not isinstance(text, str):
            raise CheckFailed(f"no text: {body['choices'][0]}")
        return f"{body['choices'][0].get('finish_reason')}: {text!r}"

    def wrong_key() -> str:
        status, body = api.call("GET", "/models", key=WRONG_KEY)
        if 200 <= status < 300:
            raise CheckFailed(f"a wrong key got HTTP {status}, not 401: the API is open to anyone")
        if status != 401:  # a wrong URL (404) or a failing API says nothing about the key
            raise CheckFailed(f"a wrong key got HTTP {status}, not 401: {_http_failure(status, body)}")
        return "401: " + _http_failure(status, body).removeprefix("HTTP 401: ")

    yield (first := run_check("models", models))
    if not first.passed:
        chosen["model"] = model or "unknown"
    try:
        woke, answer = wait_until_awake(api, chosen["model"], waking or Waking())
    except SmokeError:
        raise
    except Exception as error:  # a timed-out first chat, say: the chat check's row reports it
        woke, answer = None, error
    first_chat.append(answer)
    if woke is not None:
        yield woke
        if not woke.passed:
            return  # every other check would only meet the sleeping model again
    yield run_check("chat", chat)
    yield run_check("chat-stream", chat_stream)
    yield run_check("completions", completions)
    yield run_check("wrong-key-401", wrong_key)


def _chat_body(model: str, max_tokens: int = MAX_TOKENS) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens}


# --- the SageMaker endpoint ----------------------------------------------------------------------


def endpoint_request(dialect: str, model: str | None, stream: bool) -> dict:
    """A request the endpoint's container understands: vLLM's completions, or the LMI/TGI text schema."""
    if dialect == "openai":
        body: dict[str, Any] = {"prompt": PROMPT, "max_tokens": MAX_TOKENS}
        if model:
            body["model"] = model
    else:
        body = {"inputs": PROMPT, "parameters": {"max_new_tokens": MAX_TOKENS}}
    if stream:
        body["stream"] = True
    return body


def endpoint_text(dialect: str, body: Any) -> str:
    """The generated text of a non-streaming answer, whichever schema it came in."""
    if isinstance(body, list) and body:
        body = body[0]  # TGI answers a list
    if isinstance(body, dict):
        if "choices" in body:
            choice = body["choices"][0]
            return choice.get("text") or (choice.get("message") or {}).get("content") or ""
        if "generated_text" in body:
            return body["generated_text"]
    raise CheckFailed(f"not a {dialect} answer: {_one_line(str(body))}")


def endpoint_checks(
    name: str, region: str | None, dialect: str, model: str | None, component: str | None = None
) -> Iterator[Result]:
    import boto3
    import botocore.exceptions

    clients: list[Any] = []
    target = {"InferenceComponentName": component} if component else {}  # an endpoint of scaleToZero

    def client() -> Any:
        if not clients:  # created inside a check, so a missing region is reported, not raised
            clients.append(boto3.client("sagemaker-runtime", region_name=region))
        return clients[0]

    def guarded(check: Callable[[], str]) -> Callable[[], str]:
        def run() -> str:
            try:
                return check()
            except botocore.exceptions.NoCredentialsError:
                raise SmokeError("no AWS credentials: set AWS_PROFILE or run `aws configure`") from None
            except botocore.exceptions.NoRegionError:
                raise SmokeError("no AWS region: give --region or set AWS_REGION") from None
            except botocore.exceptions.EndpointConnectionError as error:
                raise SmokeError(f"cannot reach SageMaker: {error}") from None
            except botocore.exceptions.ClientError as error:
                info = error.response.get("Error", {})
                raise CheckFailed(f"{info.get('Code')}: {info.get('Message')}") from None

        return run

    def invoke() -> str:
        response = client().invoke_endpoint(
            EndpointName=name,
            **target,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(endpoint_request(dialect, model, stream=False)),
        )
        text = endpoint_text(dialect, _json_or_text(response["Body"].read()))
        return f"{response.get('InvokedProductionVariant', '')}: {text!r}".lstrip(": ")

    def invoke_stream() -> str:
        response = client().invoke_endpoint_with_response_stream(
            EndpointName=name,
            **target,
            ContentType="application/json",
            Body=json.dumps(endpoint_request(dialect, model, stream=True)),
        )
        parts, size = 0, 0
        for event in response["Body"]:
            if "PayloadPart" in event:
                parts += 1
                size += len(event["PayloadPart"]["Bytes"])
        if parts == 0:
            raise CheckFailed("the stream carried no payload part")
        return f"{parts} part(s), {size} bytes"

    yield run_check("endpoint-invoke", guarded(invoke))
    yield run_check("endpoint-stream", guarded(invoke_stream))


# --- stack outputs and the command line ----------------------------------------------------------


def stack_outputs(
    stack: str, *, secrets: bool = False, without_cli: str = "or pass --url/--key (--name) instead"
) -> dict[str, Any]:
    """The stack's outputs from the Pulumi CLI, `secrets` decrypted only when asked for (the API key: `smoke api`);
    `without_cli` says what to do without the CLI."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise SmokeError(f"--stack needs the Pulumi CLI on PATH; install it, {without_cli}")
    command = [pulumi, "stack", "output", "--json", *(["--show-secrets"] if secrets else []), "--stack", stack]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise SmokeError(f"pulumi stack output failed for stack {stack!r}: {_one_line(result.stderr, 300)}")
    try:
        outputs = json.loads(result.stdout)
    except ValueError:
        outputs = None
    if not isinstance(outputs, dict):  # `pulumi stack output --json` prints an object of every output
        raise SmokeError(f"pulumi stack output printed no JSON object for stack {stack!r}")
    return outputs


def _from_stack(outputs: dict[str, Any], key: str, stack: str) -> str:
    value = outputs.get(key)
    if not value:
        raise SmokeError(f"stack {stack!r} has no output {key!r}")
    return value


def stack_status(stack: str, region: str | None) -> int:
    """`smoke status` (tools/status.py): exit 0 all well, 1 something needs a look, 2 could not ask."""
    from tools import status

    try:
        print(f"smoke status: reading stack {stack}'s outputs…", file=sys.stderr)
        return status.run(
            stack_outputs(stack, without_cli="and log in to the stack's backend (`pulumi login`)"), region
        )
    except (SmokeError, status.StatusError) as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smoke", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)

    api = commands.add_parser("api", help="check the OpenAI-compatible API")
    api.add_argument(
        "--url", help="OpenAI base URL: the stack's apiUrl, ending in /api/v1 (or /v1, apiStreaming false)"
    )
    api.add_argument("--key", help="API key (Authorization: Bearer)")
    api.add_argument("--model", help="model id to use (default: the first listed)")
    api.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    api.add_argument("--stack", help="read apiUrl and apiKey from this Pulumi stack's outputs")
    api.add_argument(
        "--wake-timeout", type=float, default=900.0, help="seconds to wait for a model scaled to zero (default 900)"
    )
    api.add_argument("--wake-interval", type=float, default=15.0, help="seconds between wake-up checks (default 15)")

    endpoint = commands.add_parser("endpoint", help="invoke the SageMaker endpoint directly")
    endpoint.add_argument("--name", help="SageMaker endpoint name")
    endpoint.add_argument("--region", help="AWS region (default: AWS_REGION / your profile's)")
    endpoint.add_argument("--dialect", choices=DIALECTS, default="openai", help="container's schema (default openai)")
    endpoint.add_argument("--model", help="served model name for the openai dialect")
    endpoint.add_argument("--component", help="inference component to invoke (a scaleToZero stack's, <endpoint>-model)")
    endpoint.add_argument(
        "--stack", help="read endpointName, modelId (and inferenceComponentName) from this Pulumi stack's outputs"
    )
    status = commands.add_parser("status", help="the deployed stack's health: model, alarms, last hour, dashboard")
    status.add_argument("--stack", required=True, help="the Pulumi stack to report on")
    status.add_argument("--region", help="AWS region (default: the dashboard's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "status":
        return stack_status(args.stack, args.region)
    try:
        if args.command == "api":
            url, key, model = args.url, args.key, args.model
            if args.stack:
                outputs = stack_outputs(args.stack, secrets=True)  # the API key
                url = url or _from_stack(outputs, "apiUrl", args.stack)
                key = key or _from_stack(outputs, "apiKey", args.stack)
                model = model or outputs.get("modelId")
            if not url or not key:
                raise SmokeError("give --url and --key, or --stack")
            print(f"API {url}")
            results = api_checks(Api(url, key, args.timeout), model, Waking(args.wake_timeout, args.wake_interval))
        else:
            name, model, component = args.name, args.model, args.component
            if args.stack:
                outputs = stack_outputs(args.stack)
                name = name or _from_stack(outputs, "endpointName", args.stack)
                model = model or outputs.get("modelId")
                component = component or outputs.get("inferenceComponentName")  # a scaleToZero stack's
            if not name:
                raise SmokeError("give --name, or --stack")
            print(f"endpoint {name} ({args.dialect})")
            results = endpoint_checks(name, args.region, args.dialect, model, component)
        failures = 0
        for result in results:
            print_row(result)
            failures += not result.passed
    except SmokeError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
