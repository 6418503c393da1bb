"""smoke status: the one screen to read first about a deployed stack.

    smoke status --stack dev [--region R]

The model's hosting (endpoint, and inference component with its copies) and instances, the alarms in
ALARM, the last hour's requests, errors and tokens (the proxy's own metrics, openai_proxy/request_metrics.py)
and the dashboard's URL. Progress notes go to stderr while it asks AWS; the screen goes to stdout.
Exit 0 when all is well, 1 when something needs a look (an alarm in ALARM, a model not InService).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from openai_proxy.request_metrics import ENDPOINT_DIMENSION, MODEL_DIMENSION, NAMESPACE

HOUR = 3600
# The last hour's figures: (label, the proxy's metric, statistic). Requests are the latency's sample count.
HOUR_FIGURES = (
    ("requests", "latency_ms", "SampleCount"),
    ("errors", "errors", "Sum"),
    ("tokens in", "prompt_tokens", "Sum"),
    ("tokens out", "completion_tokens", "Sum"),
)


class StatusError(Exception):
    """Stops `smoke status` with a one-line message (exit 2): no credentials, AWS unreachable, no such stack."""


@dataclass
class Status:
    """What the screen shows; `attention` lists what needs a look (exit 1)."""

    lines: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)


def dashboard_place(url: str) -> tuple[str, str]:
    """(region, dashboard name) of a dashboardUrl: the alarms are named `<dashboard name>-…`."""
    parts = urlsplit(url)
    region = parse_qs(parts.query).get("region", [""])[0]
    name = parts.fragment.rsplit("/", 1)[-1]
    if not region or not name:
        raise StatusError(f"dashboardUrl {url!r} names no region and dashboard")
    return region, name


def stack_status(
    outputs: Mapping[str, Any],
    *,
    region: str | None = None,
    note: Callable[[str], None] = lambda text: None,
    now: datetime | None = None,
) -> Status:
    """Ask SageMaker and CloudWatch about the stack whose `outputs` (Pulumi's) are given."""
    url = outputs.get("dashboardUrl")
    if not isinstance(url, str) or not url or not isinstance(outputs.get("endpointName"), str):
        raise StatusError("the stack has no dashboardUrl or endpointName output: run `pulumi up` with this version")
    url_region, prefix = dashboard_place(url)
    region = region or url_region
    status = Status()
    note(f"asking SageMaker in {region}…")
    sagemaker = _client("sagemaker", region)
    status.lines += _hosting(sagemaker, outputs, status)
    note("asking CloudWatch for the alarms and the last hour's metrics…")
    cloudwatch = _client("cloudwatch", region)
    status.lines += _alarms(cloudwatch, prefix, status)
    status.lines.append(_last_hour(cloudwatch, outputs, now or datetime.now(UTC)))
    status.lines.append(f"{'dashboard':<10} {url}")
    return status


def _client(service: str, region: str) -> Any:
    import boto3  # here: `smoke api` needs no AWS SDK

    return boto3.client(service, region_name=region)


def _hosting(sagemaker: Any, outputs: Mapping[str, Any], status: Status) -> list[str]:
    name = outputs["endpointName"]
    endpoint = _call(sagemaker.describe_endpoint, EndpointName=name)
    lines = [f"{'model':<10} {outputs.get('modelId', '?')}"]
    if endpoint is None:
        status.attention.append("endpoint not found")
        return [*lines, f"{'endpoint':<10} {name}  not found"]
    state = endpoint.get("EndpointStatus", "?")
    variant = (endpoint.get("ProductionVariants") or [{}])[0]
    instances = f"instances {variant.get('CurrentInstanceCount', 0)} (desired {variant.get('DesiredInstanceCount', 0)})"
    lines.append(f"{'endpoint':<10} {name}  {state}  {instances}")
    if state != "InService":
        status.attention.append(f"endpoint {state}: {endpoint.get('FailureReason', '')}".rstrip(": "))
    component_name = outputs.get("inferenceComponentName")
    if component_name:
        component = _call(sagemaker.describe_inference_component, InferenceComponentName=component_name)
        if component is None:
            status.attention.append("inference component not found")
            return [*lines, f"{'component':<10} {component_name}  not found"]
        state = component.get("InferenceComponentStatus", "?")
        runtime = component.get("RuntimeConfig", {})
        current, desired = runtime.get("CurrentCopyCount", 0), runtime.get("DesiredCopyCount", 0)
        asleep = "  (scaled to zero: the next request wakes it, 5 to 10 minutes)" if current == desired == 0 else ""
        lines.append(f"{'component':<10} {component_name}  {state}  copies {current} (desired {desired}){asleep}")
        if state != "InService":
            status.attention.append(f"inference component {state}: {component.get('FailureReason', '')}".rstrip(": "))
    return lines


def _alarms(cloudwatch: Any, prefix: str, status: Status) -> list[str]:
    firing = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{prefix}-", StateValue="ALARM", AlarmTypes=["MetricAlarm"]
    ):
        # StateValue is asked for and checked: moto 5.2 drops it beside AlarmNamePrefix.
        firing += [alarm for alarm in page.get("MetricAlarms", []) if alarm.get("StateValue") == "ALARM"]
    if not firing:
        return [f"{'alarms':<10} none in ALARM"]
    status.attention += [alarm["AlarmName"] for alarm in firing]
    lines = [f"{'alarms':<10} {len(firing)} in ALARM"]
    for alarm in firing:
        lines.append(f"  {alarm['AlarmName']}: {_one_line(alarm.get('AlarmDescription', ''))}")
    return lines


def _last_hour(cloudwatch: Any, outputs: Mapping[str, Any], now: datetime) -> str:
    models = outputs.get("models") or [outputs.get("modelId", "")]
    queries = []
    for m, model in enumerate(models):
        dimensions = [
            {"Name": ENDPOINT_DIMENSION, "Value": outputs["endpointName"]},
            {"Name": MODEL_DIMENSION, "Value": model},
        ]
        for f, (_, metric, stat) in enumerate(HOUR_FIGURES):
            stat_query = {"Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions}}
            queries.append({"Id": f"q{m}_{f}", "MetricStat": stat_query | {"Period": HOUR, "Stat": stat}})
    totals = [0.0] * len(HOUR_FIGURES)
    for page in cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=now - timedelta(hours=1), EndTime=now
    ):
        for result in page.get("MetricDataResults", []):
            totals[int(result["Id"].rsplit("_", 1)[1])] += sum(result.get("Values", []))
    figures = ", ".join(f"{label} {round(total):,}" for (label, _, _), total in zip(HOUR_FIGURES, totals, strict=True))
    return f"{'last hour':<10} {figures}"


def _call(operation: Callable[..., dict], **params: Any) -> dict | None:
    """The answer, or None when SageMaker says the resource does not exist (a ValidationException)."""
    from botocore.exceptions import ClientError

    try:
        return operation(**params)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run(outputs: Mapping[str, Any], region: str | None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the screen; 0 all well, 1 something needs a look, 2 AWS could not be asked."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    out, err = out or sys.stdout, err or sys.stderr
    try:
        status = stack_status(outputs, region=region, note=lambda text: print(f"smoke status: {text}", file=err))
    except NoCredentialsError:
        raise StatusError("no AWS credentials: set AWS_PROFILE or run `aws configure` (or `aws sso login`)") from None
    except (BotoCoreError, ClientError) as error:
        raise StatusError(f"AWS could not be asked: {_one_line(str(error), 300)}") from None
    for line in status.lines:
        print(line, file=out)
    if status.attention:
        print(f"needs a look: {', '.join(status.attention)}", file=out)
    return 1 if status.attention else 0
