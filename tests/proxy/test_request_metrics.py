"""The proxy's log line is a valid CloudWatch EMF document carrying its metrics, through the real handlers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_proxy import request_metrics
from openai_proxy.handler import handler, stream_handler
from openai_proxy.request_metrics import DIMENSIONS, METRICS, NAMESPACE, embed_metrics
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.emf_spec import emf_problems
from tests.proxy.events import ENDPOINT, MODEL_ID, api_event, chat
from tests.proxy.test_deadline import WORDS

PROXY_PACKAGE = Path(request_metrics.__file__).parent


def logged(capsys) -> dict:
    """The one log line the request wrote, checked against the EMF specification, as an object."""
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, lines
    assert emf_problems(lines[0]) == []
    return json.loads(lines[0])


def metric_values(record: dict) -> dict[str, float]:
    """Metric name → value, as CloudWatch would extract them from the record."""
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [list(DIMENSIONS)]
    return {definition["Name"]: record[definition["Name"]] for definition in directive["Metrics"]}


def test_a_buffered_answer_carries_tokens_latency_and_no_error(proxy_env, capsys):
    capsys.readouterr()
    assert handler(api_event("POST", "/v1/chat/completions", chat()))["statusCode"] == 200

    record = logged(capsys)
    values = metric_values(record)
    assert (record["endpoint"], record["model"]) == (ENDPOINT, MODEL_ID)  # the stack's, known from its outputs
    assert values["prompt_tokens"] > 0 and values["completion_tokens"] > 0
    assert values["latency_ms"] >= 0
    assert values["errors"] == 0 and values["deadline_cuts"] == 0
    assert "time_to_first_token_ms" not in values  # not a stream


def test_a_streamed_answer_also_carries_the_time_to_its_first_event(proxy_env, capsys):
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(["Hello", " there"]))))
    capsys.readouterr()
    response = stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    assert b"data: [DONE]" in b"".join(response.body)

    values = metric_values(logged(capsys))
    assert 0 <= values["time_to_first_token_ms"] <= values["latency_ms"]
    assert values["completion_tokens"] > 0 and values["errors"] == 0


def test_a_stream_the_http_api_buffers_is_timed_the_same_way(proxy_env, capsys):
    capsys.readouterr()
    assert handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))["statusCode"] == 200

    values = metric_values(logged(capsys))
    assert 0 <= values["time_to_first_token_ms"] <= values["latency_ms"]


def test_a_model_failure_counts_one_error(proxy_env, capsys):
    proxy_env.script(ErrorReply.model_error(500, "CUDA error"))
    capsys.readouterr()
    assert handler(api_event("POST", "/v1/chat/completions", chat()))["statusCode"] >= 500

    record = logged(capsys)
    assert metric_values(record)["errors"] == 1
    assert "time_to_first_token_ms" not in record


def test_a_model_failure_mid_stream_counts_one_error_though_the_status_was_200(proxy_env, capsys):
    parts = one_part_per_line(vllm_chat_sse(["partial"]))[:2]
    proxy_env.script(StreamReply(parts, error=("ModelStreamError", "CUDA out of memory")))
    capsys.readouterr()
    response = stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True)))
    b"".join(response.body)

    record = logged(capsys)
    assert record["status"] == 200
    assert metric_values(record)["errors"] == 1


def test_an_answer_cut_at_the_deadline_counts_one_cut(proxy_env, monkeypatch, capsys):
    from openai_proxy import deadline

    ticks = iter(range(10**6))
    monkeypatch.setattr(deadline, "now", lambda: float(next(ticks)))  # generation "takes" a second a read
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "12")
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(WORDS))))
    capsys.readouterr()
    handler(api_event("POST", "/v1/chat/completions", chat()))

    record = logged(capsys)
    assert record["cut_at_deadline"] is True
    assert metric_values(record)["deadline_cuts"] == 1


def test_a_refused_key_is_not_an_error_of_the_service(proxy_env, capsys):
    capsys.readouterr()
    assert handler(api_event("POST", "/v1/chat/completions", chat(), key="wrong"))["statusCode"] == 401

    values = metric_values(logged(capsys))
    assert values["errors"] == 0
    assert "prompt_tokens" not in values


def test_lines_of_other_routes_carry_no_metrics(proxy_env, capsys):
    capsys.readouterr()
    handler(api_event("GET", "/v1/models"))
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert "_aws" not in json.loads(line)


def test_the_dimensions_are_few_and_never_per_request():
    assert DIMENSIONS == ("endpoint", "model")
    assert not NAMESPACE.startswith("AWS/")
    assert set(METRICS) >= {"prompt_tokens", "completion_tokens", "latency_ms", "time_to_first_token_ms"}
    assert set(METRICS) >= {"errors", "deadline_cuts"}


def test_the_proxy_never_calls_put_metric_data():
    for path in PROXY_PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "put_metric_data" not in text and '"cloudwatch"' not in text, path


@settings(deadline=None)
@given(
    model=st.text(max_size=1100),
    endpoint=st.text(max_size=80),
    numbers=st.dictionaries(st.sampled_from(sorted(METRICS)), st.integers(0, 10**9) | st.floats(0, 1e9)),
)
def test_any_model_name_and_values_give_a_valid_document(model, endpoint, numbers):
    record = embed_metrics({"model": model, "endpoint": endpoint, **numbers}, now_ms=1_765_000_000_000)
    problems = emf_problems(json.dumps(record), now_ms=1_765_000_000_000) if "_aws" in record else []
    assert problems == []
    assert ("_aws" in record) == bool(numbers)


# -- the checker itself refuses what the specification forbids ---------------------------------------------

VALID = {
    "_aws": {
        "Timestamp": 1_765_000_000_000,
        "CloudWatchMetrics": [
            {"Namespace": "App", "Dimensions": [["model"]], "Metrics": [{"Name": "latency_ms", "Unit": "Milliseconds"}]}
        ],
    },
    "model": "m",
    "latency_ms": 12.5,
}


def _broken(change) -> str:
    record = json.loads(json.dumps(VALID))
    change(record)
    return json.dumps(record)


@pytest.mark.parametrize(
    "line",
    [
        json.dumps(VALID) + " trailing",
        _broken(lambda r: r.pop("_aws")),
        _broken(lambda r: r["_aws"].update(Timestamp=1_765_000_000)),  # seconds
        _broken(lambda r: r["_aws"].update(Timestamp="1765000000000")),
        _broken(lambda r: r["_aws"]["CloudWatchMetrics"][0].update(Namespace="AWS/Lambda")),
        _broken(lambda r: r["_aws"]["CloudWatchMetrics"][0].pop("Dimensions")),
        _broken(lambda r: r["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"d{i}" for i in range(31)]])),
        _broken(lambda r: r["_aws"]["CloudWatchMetrics"][0]["Metrics"].extend([{"Name": "latency_ms"}] * 100)),
        _broken(lambda r: r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="ms")),
        _broken(lambda r: r.update(latency_ms="12.5")),
        _broken(lambda r: r.update(latency_ms={"value": 12.5})),
        _broken(lambda r: r.pop("model")),
        _broken(lambda r: r.update(model=7)),
        _broken(lambda r: r.update(model="é")),
        _broken(lambda r: r.update(model="  ")),
    ],
)
def test_the_checker_refuses_what_the_specification_forbids(line):
    assert emf_problems(line, now_ms=1_765_000_000_000) != []


def test_the_checker_accepts_the_valid_example():
    assert emf_problems(json.dumps(VALID), now_ms=1_765_000_000_000) == []
