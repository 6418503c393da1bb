"""The proxy's own CloudWatch metrics, carried by its one log line per request in the Embedded Metric Format.

CloudWatch Logs turns a log line with an `_aws` member into metrics: no PutMetricData call and no permission
beyond writing the log group. Specification:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
The Pulumi side (components/dashboard.py) reads the names below, so the contract is spelled once.
"""

from __future__ import annotations

import math
import time
from typing import Any

# Fixed for every stack; namespaces starting with AWS/ are reserved for AWS (CloudWatch PutMetricData).
NAMESPACE = "SageMakerLLM/Proxy"
# One dimension set: the stack's endpoint (one per stack and region) and the model. Each combination is a
# billed custom metric, so never a request id; the model is the deployment's own name (the proxy refuses others).
ENDPOINT_DIMENSION = "endpoint"
MODEL_DIMENSION = "model"
DIMENSIONS = (ENDPOINT_DIMENSION, MODEL_DIMENSION)
# Log field → CloudWatch unit. The field names are the metric names, so the log line holds each value once.
METRICS: dict[str, str] = {
    "latency_ms": "Milliseconds",
    "time_to_first_token_ms": "Milliseconds",  # streamed answers: the first event of the answer
    "prompt_tokens": "Count",
    "completion_tokens": "Count",
    "errors": "Count",  # 1: the answer failed on the server's side (5xx, or an error event mid-stream)
    "deadline_cuts": "Count",  # 1: the answer was cut at the request's deadline
}
UNKNOWN = "unknown"
MAX_DIMENSION_VALUE = 1024  # CloudWatch's Dimension.Value: 1 to 1024 ASCII characters, no control characters


def dimension_value(value: Any) -> str:
    """`value` as CloudWatch accepts a dimension value: printable ASCII, at most 1024 characters, not blank."""
    text = "".join(c if " " <= c <= "~" else "?" for c in str(value or ""))[:MAX_DIMENSION_VALUE]
    return text if text.strip() else UNKNOWN


def embed_metrics(record: dict[str, Any], now_ms: int | None = None) -> dict[str, Any]:
    """`record` with the dimensions at its root and an `_aws` directive naming every metric it holds."""
    record = {**record, **{key: dimension_value(record.get(key)) for key in DIMENSIONS}}
    metrics = [{"Name": name, "Unit": unit} for name, unit in METRICS.items() if _is_number(record.get(name))]
    if not metrics:
        return record
    directive = {"Namespace": NAMESPACE, "Dimensions": [list(DIMENSIONS)], "Metrics": metrics}
    timestamp = int(time.time() * 1000) if now_ms is None else now_ms
    return {"_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]}, **record}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
