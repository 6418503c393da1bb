"""The saved Logs Insights queries (components/log_queries.py) read fields the proxy really logs."""

from __future__ import annotations

import json
import re

import pytest

from components.log_queries import QUERIES
from openai_proxy import deadline
from openai_proxy.handler import handler, stream_handler
from sagemaker_llm_local.container_formats import one_part_per_line, vllm_chat_sse
from sagemaker_llm_local.replies import ErrorReply, StreamReply
from tests.proxy.events import api_event, chat
from tests.proxy.test_deadline import WORDS

# Logs Insights' own words (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html).
COMMANDS = {"fields", "filter", "stats", "sort", "limit", "by", "as", "asc", "desc", "and", "or", "not", "in"}
FUNCTIONS = {"count", "sum", "avg", "min", "max", "latest", "earliest", "pct", "ispresent", "bin"}


def referenced_fields(query: str) -> set[str]:
    """The log fields a query names: its words, less Logs Insights' own, @-fields and the names `as` gives."""
    words = set(re.findall(r"(?<![@\w])[A-Za-z_]\w*", query))
    aliases = set(re.findall(r"\bas\s+(\w+)", query))
    return words - COMMANDS - FUNCTIONS - aliases


@pytest.fixture
def logged_fields(proxy_env, monkeypatch, capsys) -> set[str]:
    """Every field of the lines the proxy wrote for a buffered, a streamed, a failed and a cut answer."""
    capsys.readouterr()
    handler(api_event("POST", "/v1/chat/completions", chat()))
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(["Hello"]))))
    b"".join(stream_handler(api_event("POST", "/v1/chat/completions", chat(stream=True))).body)
    proxy_env.script(ErrorReply.model_error(500, "CUDA error"))
    handler(api_event("POST", "/v1/chat/completions", chat()))
    ticks = iter(range(10**6))
    monkeypatch.setattr(deadline, "now", lambda: float(next(ticks)))
    monkeypatch.setenv("REQUEST_DEADLINE_SECONDS", "12")
    proxy_env.script(StreamReply(one_part_per_line(vllm_chat_sse(WORDS))))
    handler(api_event("POST", "/v1/chat/completions", chat()))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(records) == 4
    assert any(r.get("deadline_cuts") == 1 for r in records) and any(r.get("error_code") for r in records)
    return {key for record in records for key in record}


@pytest.mark.parametrize("title", sorted(QUERIES))
def test_every_field_a_saved_query_reads_is_one_the_proxy_logs(title, logged_fields):
    fields = referenced_fields(QUERIES[title])
    assert fields, title
    assert fields <= logged_fields, fields - logged_fields


def test_the_field_reader_sees_fields_and_not_the_query_language():
    query = "fields @timestamp, a | stats sum(b) as total by c | sort total desc | limit 5"
    assert referenced_fields(query) == {"a", "b", "c"}
