"""The stack's alarms as data: which metric, what threshold, and one line for the person who gets the e-mail.

Metric names, namespaces and dimensions differ by service and fail silently (INSUFFICIENT_DATA forever) when
wrong; tests/components/cloudwatch_metrics.py checks every one against AWS's metric pages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

SAGEMAKER = "AWS/SageMaker"
LAMBDA = "AWS/Lambda"
API_GATEWAY = "AWS/ApiGateway"
EC2 = "AWS/EC2"
FIVE_MINUTES = 300
# What each kind of API calls its metrics (HTTP API: `5xx` by ApiId and Stage; REST API: `5XXError` by ApiName
# and Stage): https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html and
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
API_METRIC_NAMES: dict[str, dict[str, str]] = {
    "http": {"requests": "Count", "client_errors": "4xx", "server_errors": "5xx", "latency": "Latency"},
    "rest": {"requests": "Count", "client_errors": "4XXError", "server_errors": "5XXError", "latency": "Latency"},
}
MODEL_5XX_THRESHOLD = 3  # model 5xx answers in five minutes
API_5XX_THRESHOLD = 3  # API 5xx answers in five minutes
CONCURRENCY_SHARE = 0.8  # "near the reserve": this share of the proxy's reserved concurrency
WAKE_PERIODS = 4  # no-capacity failures in four 5-minute periods in a row: still failing 15 minutes on
BUFFERED_LATENCY_MS = 20_000  # buffered answers are cut at 28 s: a p90 over 20 s is near the cut
SLOW_TOKEN_MS = 50  # 20 tokens a second: slower than that, a GPU serving a small model is saturated
# A metric-math alarm reads at most 10 metrics, a hard limit (CloudWatch, "Limits that apply to alarms based on metric
# math expressions": https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
MAX_ALARM_METRICS = 10


@dataclass(frozen=True)
class MetricQuery:
    """One metric an alarm reads (a metric-math alarm reads several)."""

    namespace: str
    metric: str
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str
    """Sum, Maximum… or an extended statistic such as p90."""


@dataclass(frozen=True)
class AlarmSpec:
    """An alarm: `metrics` (one, or several combined by `expression`) compared with `threshold`."""

    slug: str
    """The alarm's name after the stack's prefix: `<project>-<stack>-<slug>`."""
    guide: str
    """What it means, what to do: the alarm's description, in the e-mail and in docs/operations.md."""
    metrics: tuple[MetricQuery, ...]
    threshold: float
    comparison: str = "GreaterThanOrEqualToThreshold"
    period: int = FIVE_MINUTES
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    treat_missing_data: str = "notBreaching"
    """Idle services send no data: an idle stack is not broken."""
    expression: str | None = None
    """Metric math over the metrics (ids m0, m1, …); None: the one metric itself."""
    instance_actions: tuple[str, ...] = field(default_factory=tuple)
    """EC2 actions (recover, reboot) taken on ALARM whether or not anybody is notified."""


@dataclass(frozen=True)
class ApiMetricSource:
    """Where the API's metrics are: its kind (`http` or `rest`) and the dimensions that kind is measured by."""

    kind: str
    dimensions: Mapping[str, pulumi.Input[str]]

    def metric(self, what: str) -> str:
        return API_METRIC_NAMES[self.kind][what]


def model_latency_threshold_ms(streaming: bool, max_output_tokens: int) -> int:
    """The p90 ModelLatency worth an e-mail: near the 28 s cut when answers are buffered; when they stream (they
    may run for minutes), the time the longest answer allowed takes at a saturated GPU's 20 tokens a second."""
    if not streaming:
        return BUFFERED_LATENCY_MS
    return max(BUFFERED_LATENCY_MS, max_output_tokens * SLOW_TOKEN_MS)


@dataclass(frozen=True)
class ModelMetricSource:
    """Where AWS/SageMaker counts the model's invocations: per endpoint and variant, or, with component hosting,
    per inference component: the base's, then each adapter's (a request to an adapter counts under its own)."""

    endpoint_name: pulumi.Input[str]
    variant_name: str
    component_names: tuple[pulumi.Input[str], ...] = ()
    """The base component first; empty without component hosting."""

    def each(self) -> list[dict[str, pulumi.Input[str]]]:
        """The dimensions of every place the model's invocations are counted, the base model's first."""
        if not self.component_names:
            return [{"EndpointName": self.endpoint_name, "VariantName": self.variant_name}]
        return [{"InferenceComponentName": name} for name in self.component_names]


def model_alarms(model: ModelMetricSource, latency_p90_ms: int, scale_to_zero: bool) -> list[AlarmSpec]:
    specs = [
        *summed_alarms(
            "model-5xx",
            "The model answered 5xx errors: read the endpoint's log group (/aws/sagemaker/…) for the container's "
            "error; a model that runs out of GPU memory needs a smaller maxModelLen or a larger instanceType.",
            [MetricQuery(SAGEMAKER, "Invocation5XXErrors", dimensions, "Sum") for dimensions in model.each()],
            MODEL_5XX_THRESHOLD,
        ),
        AlarmSpec(
            "model-latency-p90",
            f"The model's p90 latency has been over {latency_p90_ms / 1000:g} s for 15 minutes: answers are long "
            "or the instances are saturated; lower maxOutputTokens, or raise maxInstanceCount.",
            # ModelLatency is in microseconds (AWS/SageMaker's endpoint invocation metrics). The base model's only:
            # percentiles of several components do not add up, and its adapters share its GPUs.
            (MetricQuery(SAGEMAKER, "ModelLatency", model.each()[0], "p90"),),
            latency_p90_ms * 1000,
            comparison="GreaterThanThreshold",
            evaluation_periods=3,
            datapoints_to_alarm=3,
        ),
    ]
    if scale_to_zero:
        specs += summed_alarms(
            "model-did-not-wake",
            "Requests have found no copy of the model for 15 minutes: the model scaled to zero did not wake. "
            "Check the inference component's events and the endpoint's logs (capacity, image, health check).",
            [MetricQuery(SAGEMAKER, "NoCapacityInvocationFailures", dimensions, "Sum") for dimensions in model.each()],
            1,
            evaluation_periods=WAKE_PERIODS,
            datapoints_to_alarm=WAKE_PERIODS,
        )
    return specs


def summed_alarms(
    slug: str,
    guide: str,
    metrics: Sequence[MetricQuery],
    threshold: float,
    *,
    evaluation_periods: int = 1,
    datapoints_to_alarm: int = 1,
) -> list[AlarmSpec]:
    """An alarm on the sum of `metrics`; past MAX_ALARM_METRICS one alarm per ten of them (`slug`, `slug-2`, …)."""
    chunks = [tuple(metrics[start : start + MAX_ALARM_METRICS]) for start in range(0, len(metrics), MAX_ALARM_METRICS)]
    return [
        AlarmSpec(
            slug if number == 1 else f"{slug}-{number}",
            guide,
            chunk,
            threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            expression=sum_expression(range(len(chunk))) if len(chunk) > 1 else None,
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


def sum_expression(indexes: range) -> str:
    """`FILL(m0, 0) + FILL(m1, 0) …`: a component nobody called has no datapoint, and a sum with a missing term
    has none either."""
    return " + ".join(f"FILL(m{index}, 0)" for index in indexes)


def proxy_alarms(function_name: pulumi.Input[str], reserved_concurrency: int) -> list[AlarmSpec]:
    # Lambda sends no zero values: no data is "no errors" (notBreaching, the default here).
    dimensions = {"FunctionName": function_name}
    specs = [
        AlarmSpec(
            "proxy-errors",
            "The proxy Lambda failed (a crash or a timeout, not an error it answered): read its log group for the "
            "traceback and the request id.",
            (MetricQuery(LAMBDA, "Errors", dimensions, "Sum"),),
            1,
        ),
        AlarmSpec(
            "proxy-throttles",
            "Lambda refused requests: the proxy used all its reserved concurrency (apiMaxConcurrency) or the "
            "account's. Raise apiMaxConcurrency, or lower apiRateLimit.",
            (MetricQuery(LAMBDA, "Throttles", dimensions, "Sum"),),
            1,
        ),
    ]
    if reserved_concurrency > 0:
        near = max(1, math.ceil(reserved_concurrency * CONCURRENCY_SHARE))
        specs.append(
            AlarmSpec(
                "proxy-concurrency",
                f"The proxy ran {near} or more requests at once, near its reserve of {reserved_concurrency} "
                "(apiMaxConcurrency): more will be throttled. Raise apiMaxConcurrency if the account allows it.",
                (MetricQuery(LAMBDA, "ConcurrentExecutions", dimensions, "Maximum"),),
                near,
                period=60,
                evaluation_periods=5,
                datapoints_to_alarm=3,
            )
        )
    return specs


def api_alarms(api: ApiMetricSource, model: ModelMetricSource, scale_to_zero: bool) -> list[AlarmSpec]:
    server_errors = MetricQuery(API_GATEWAY, api.metric("server_errors"), api.dimensions, "Sum")
    guide = (
        "The API answered 5xx errors: the proxy's log group says which (error_code), the saved query "
        "'errors by code' counts them; 503 after 30 s on the HTTP API is the gateway's own timeout."
    )
    if not scale_to_zero:
        return [AlarmSpec("api-5xx", guide, (server_errors,), API_5XX_THRESHOLD)]
    # A model waking from zero answers 503 on purpose, to a request for the base or any adapter: those are
    # model-did-not-wake's business. The alarm reads the gateway's metric and at most nine components'.
    waking = [
        MetricQuery(SAGEMAKER, "NoCapacityInvocationFailures", dimensions, "Sum")
        for dimensions in model.each()[: MAX_ALARM_METRICS - 1]
    ]
    subtracted = sum_expression(range(1, len(waking) + 1))
    return [
        AlarmSpec(
            "api-5xx",
            guide + " Answers while the model wakes from zero are not counted.",
            (server_errors, *waking),
            API_5XX_THRESHOLD,
            expression=f"FILL(m0, 0) - {subtracted if len(waking) == 1 else f'({subtracted})'}",
        )
    ]


def ui_host_alarms(instance_id: pulumi.Input[str], partition: str, region: str) -> list[AlarmSpec]:
    # EC2's recover action works only with StatusCheckFailed_System, on an instance with EBS volumes only (the UI
    # host's root and data volumes) of a type that supports it (t3: DescribeInstanceTypes' AutoRecoverySupported):
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/cloudwatch-recovery.html
    dimensions = {"InstanceId": instance_id}
    automate = f"arn:{partition}:automate:{region}:ec2"
    return [
        AlarmSpec(
            "ui-host-system-check",
            "AWS's hardware under the UI host failed its status check: EC2 moves the instance to new hardware "
            "(same id, address and volumes) and the UI comes back after a reboot. Nothing to do unless it repeats.",
            (MetricQuery(EC2, "StatusCheckFailed_System", dimensions, "Maximum"),),
            1,
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data="missing",
            instance_actions=(f"{automate}:recover",),
        ),
        AlarmSpec(
            "ui-host-instance-check",
            "The UI host's operating system stopped answering its status check: EC2 reboots it. If it repeats, "
            "read the host's console output (EC2 console, Monitor and troubleshoot) and the boot log.",
            (MetricQuery(EC2, "StatusCheckFailed_Instance", dimensions, "Maximum"),),
            1,
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            treat_missing_data="missing",
            instance_actions=(f"{automate}:reboot",),
        ),
    ]
