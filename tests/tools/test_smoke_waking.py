"""`smoke api` against a model scaled to zero: it says so, waits (bounded, with progress), then checks."""

from __future__ import annotations

import json

from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.tools.conftest import API_KEY
from tools import smoke


class _Clock:
    """smoke's sleep and clock on one fake timeline: minutes of waiting take no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.naps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += seconds


def test_smoke_wakes_a_model_scaled_to_zero_then_runs_every_check(local_api, sagemaker, capsys):
    sagemaker.script(ErrorReply.no_capacity(), ErrorReply.no_capacity(), ErrorReply.no_capacity())
    code = smoke.main(["api", "--url", local_api, "--key", API_KEY, "--wake-interval", "0.01"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "scaled to zero, waking it" in out
    assert out.count("still waking after") == 2  # progress on every attempt after the first
    wake_row = next(line for line in out.splitlines() if line.startswith("wake "))
    assert "PASS" in wake_row and "answered after" in wake_row
    assert "all checks passed" in out


def test_smoke_says_nothing_about_waking_when_the_model_is_up(local_api, capsys):
    code = smoke.main(["api", "--url", local_api, "--key", API_KEY])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "waking" not in out and not any(line.startswith("wake ") for line in out.splitlines())


def test_waiting_is_bounded_and_ends_in_a_failed_row(local_api, sagemaker):
    sagemaker.script(*[ErrorReply.no_capacity()] * 10)
    clock = _Clock()
    waking = smoke.Waking(timeout=60, interval=15, sleep=clock.sleep, clock=lambda: clock.now)

    result, (status, _) = smoke.wait_until_awake(smoke.Api(local_api, API_KEY), "fake-model", waking)

    assert result is not None and not result.passed and status == 503
    assert "did not wake within 1m00s" in result.detail
    assert clock.naps == [15, 15, 15, 15]  # asked at 0, 15, 30, 45 and 60 s, never past the limit
    assert len(sagemaker.requests) == 5


def test_a_failed_wake_skips_the_checks_and_fails_the_run(local_api, sagemaker, capsys):
    sagemaker.script(*[ErrorReply.no_capacity()] * 10)
    code = smoke.main(["api", "--url", local_api, "--key", API_KEY, "--wake-timeout", "0", "--wake-interval", "5"])

    out = capsys.readouterr().out
    assert code == 1
    assert "did not wake within 0m00s" in out
    assert "chat-stream" not in out  # nothing else is checked against a sleeping model


def test_smoke_endpoint_invokes_the_inference_component_it_is_given(sagemaker, capsys):
    args = ["endpoint", "--name", "fake-endpoint", "--region", "us-east-1", "--component", "fake-endpoint-model"]
    code = smoke.main(args)

    assert code == 0, capsys.readouterr().out
    headers = [r.headers.get("x-amzn-sagemaker-inference-component") for r in sagemaker.requests]
    assert headers == ["fake-endpoint-model", "fake-endpoint-model"]  # the buffered and the streamed call


def test_smoke_endpoint_on_a_component_scaled_to_zero_fails_with_sagemaker_s_words(sagemaker, capsys):
    sagemaker.script(ErrorReply.no_capacity())
    code = smoke.main(["endpoint", "--name", "fake-endpoint", "--region", "us-east-1", "--component", "c"])

    out = capsys.readouterr().out
    assert code == 1
    assert "no capacity" in out


def test_a_first_chat_slower_than_the_timeout_is_a_failed_row_not_a_traceback(local_api, sagemaker, capsys):
    held = StreamReply(one_part_per_line(vllm_chat_sse(["Hi"])), hold_after=0)  # the model never starts
    sagemaker.script(held)
    try:
        code = smoke.main(["api", "--url", local_api, "--key", API_KEY, "--timeout", "1"])
    finally:
        held.release.set()

    out = capsys.readouterr().out
    assert code == 1
    chat_row = next(line for line in out.splitlines() if line.startswith("chat "))
    assert "FAIL" in chat_row and "timed out" in chat_row
    assert "wrong-key-401" in out  # the other checks still ran


def test_an_error_that_is_not_an_object_is_an_answer_not_a_crash():
    class Gateway:  # what a URL that is not the proxy may answer
        def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
            return 502, {"error": "bad gateway"}

    woke, answer = smoke.wait_until_awake(Gateway(), "fake-model", smoke.Waking())

    assert (woke, answer) == (None, (502, {"error": "bad gateway"}))
    assert smoke._http_failure(*answer) == "HTTP 502: bad gateway"


def test_smoke_endpoint_with_a_scale_to_zero_stack_invokes_the_component_it_exports(
    cached_run, sagemaker, tmp_path, monkeypatch, capsys
):
    run = cached_run({"uiEnabled": False, "modelId": "distilgpt2", "scaleToZero": True})
    component = run.outputs["inferenceComponentName"]
    assert component == run.one("aws-native:sagemaker:InferenceComponent").state["inferenceComponentName"]
    outputs = {"endpointName": "fake-endpoint", "modelId": "fake-model", "inferenceComponentName": component}
    fake_cli = tmp_path / "pulumi"
    fake_cli.write_text(f"#!/bin/sh\ncat <<'JSON'\n{json.dumps(outputs)}\nJSON\n")
    fake_cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    code = smoke.main(["endpoint", "--stack", "dev", "--region", "us-east-1"])

    assert code == 0, capsys.readouterr().out
    assert [r.headers.get("x-amzn-sagemaker-inference-component") for r in sagemaker.requests] == [component] * 2
