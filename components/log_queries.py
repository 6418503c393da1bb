"""Saved CloudWatch Logs Insights queries over the proxy's log group: one per question an operator asks first.

Each reads fields of the proxy's one JSON line per request (openai_proxy/handler.py, request_metrics.py);
tests/proxy/test_log_queries.py runs the real handler and checks every field a query names is one it logs.
Syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html
"""

from __future__ import annotations

QUERIES: dict[str, str] = {
    "slowest requests": (
        "fields @timestamp, request_id, route, status, model, stream, latency_ms, time_to_first_token_ms, "
        "completion_tokens\n"
        "| filter ispresent(latency_ms)\n"
        "| sort latency_ms desc\n"
        "| limit 50"
    ),
    "errors by code": (
        "filter ispresent(error_code)\n"
        "| stats count(*) as requests, latest(request_id) as last_request by error_code, status\n"
        "| sort requests desc"
    ),
    "tokens by model": (
        "filter ispresent(model)\n"
        "| stats sum(prompt_tokens) as tokens_in, sum(completion_tokens) as tokens_out, count(*) as requests by model\n"
        "| sort tokens_out desc"
    ),
    "requests cut at the deadline": (
        "fields @timestamp, request_id, model, stream, latency_ms, completion_tokens\n"
        "| filter deadline_cuts = 1\n"
        "| sort @timestamp desc\n"
        "| limit 100"
    ),
}
