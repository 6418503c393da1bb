"""Every CloudWatch metric the stack alarms on or charts, as AWS's metric pages publish it.

A wrong namespace, name or dimension set is not an error anywhere: the alarm sits in INSUFFICIENT_DATA and the
graph stays empty forever. Each row names the page it comes from (read 2026-12); `metric_problems` checks a
(namespace, metric, dimension names) triple against the table.
"""

from __future__ import annotations

from collections.abc import Iterable

from openai_proxy.request_metrics import DIMENSIONS, METRICS, NAMESPACE

SAGEMAKER_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html"
LAMBDA_PAGE = "https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"
HTTP_API_PAGE = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html"
REST_API_PAGE = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html"
EC2_PAGE = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html"
OURS = "proxy/openai_proxy/request_metrics.py (the proxy's EMF)"

VARIANT = frozenset({"EndpointName", "VariantName"})
COMPONENT = frozenset({"InferenceComponentName"})
HTTP_API = frozenset({"ApiId", "Stage"})
REST_API = frozenset({"ApiName", "Stage"})
FUNCTION = frozenset({"FunctionName"})

# (namespace, metric) → (the dimension sets it is published with, unit, source)
TABLE: dict[tuple[str, str], tuple[frozenset[frozenset[str]], str, str]] = {
    # Endpoint invocation metrics, per variant or (inference components) per component.
    ("AWS/SageMaker", "Invocations"): (frozenset({VARIANT, COMPONENT}), "None", SAGEMAKER_PAGE),
    ("AWS/SageMaker", "Invocation5XXErrors"): (frozenset({VARIANT, COMPONENT}), "None", SAGEMAKER_PAGE),
    ("AWS/SageMaker", "ModelLatency"): (frozenset({VARIANT, COMPONENT}), "Microseconds", SAGEMAKER_PAGE),
    ("AWS/SageMaker", "InvocationsPerInstance"): (frozenset({VARIANT}), "None", SAGEMAKER_PAGE),
    ("AWS/SageMaker", "InvocationsPerCopy"): (frozenset({COMPONENT}), "None", SAGEMAKER_PAGE),
    ("AWS/SageMaker", "NoCapacityInvocationFailures"): (frozenset({COMPONENT}), "None", SAGEMAKER_PAGE),
    # Endpoint instance metrics: the namespace has a leading slash; 0-100 % per GPU, summed.
    ("/aws/sagemaker/Endpoints", "GPUUtilization"): (frozenset({VARIANT}), "Percent", SAGEMAKER_PAGE),
    ("/aws/sagemaker/Endpoints", "GPUMemoryUtilization"): (frozenset({VARIANT}), "Percent", SAGEMAKER_PAGE),
    # Inference component metrics (per copy, normalized to the copy's share of the instance).
    ("/aws/sagemaker/InferenceComponents", "GPUUtilizationNormalized"): (
        frozenset({COMPONENT}),
        "Percent",
        SAGEMAKER_PAGE,
    ),
    ("/aws/sagemaker/InferenceComponents", "GPUMemoryUtilizationNormalized"): (
        frozenset({COMPONENT}),
        "Percent",
        SAGEMAKER_PAGE,
    ),
    # Lambda: sent only when non-zero (Errors, Throttles); ConcurrentExecutions for every function.
    ("AWS/Lambda", "Errors"): (frozenset({FUNCTION}), "Count", LAMBDA_PAGE),
    ("AWS/Lambda", "Throttles"): (frozenset({FUNCTION}), "Count", LAMBDA_PAGE),
    ("AWS/Lambda", "ConcurrentExecutions"): (frozenset({FUNCTION}), "Count", LAMBDA_PAGE),
    # HTTP APIs: lower-case 4xx/5xx by ApiId (and Stage); REST APIs: 4XXError/5XXError by ApiName (and Stage).
    ("AWS/ApiGateway", "4xx"): (frozenset({HTTP_API}), "Count", HTTP_API_PAGE),
    ("AWS/ApiGateway", "5xx"): (frozenset({HTTP_API}), "Count", HTTP_API_PAGE),
    ("AWS/ApiGateway", "4XXError"): (frozenset({REST_API}), "Count", REST_API_PAGE),
    ("AWS/ApiGateway", "5XXError"): (frozenset({REST_API}), "Count", REST_API_PAGE),
    ("AWS/ApiGateway", "Count"): (frozenset({HTTP_API, REST_API}), "Count", f"{HTTP_API_PAGE}, {REST_API_PAGE}"),
    ("AWS/ApiGateway", "Latency"): (
        frozenset({HTTP_API, REST_API}),
        "Milliseconds",
        f"{HTTP_API_PAGE}, {REST_API_PAGE}",
    ),
    # EC2 status checks, at one-minute frequency at no charge.
    ("AWS/EC2", "StatusCheckFailed_System"): (frozenset({frozenset({"InstanceId"})}), "Count", EC2_PAGE),
    ("AWS/EC2", "StatusCheckFailed_Instance"): (frozenset({frozenset({"InstanceId"})}), "Count", EC2_PAGE),
    # The proxy's own, from its log lines.
    **{(NAMESPACE, metric): (frozenset({frozenset(DIMENSIONS)}), unit, OURS) for metric, unit in METRICS.items()},
}


def metric_problems(namespace: str, metric: str, dimensions: Iterable[str]) -> list[str]:
    row = TABLE.get((namespace, metric))
    if row is None:
        return [f"{namespace} {metric}: not a metric in the table (tests/components/cloudwatch_metrics.py)"]
    if frozenset(dimensions) not in row[0]:
        return [f"{namespace} {metric}: not published by {sorted(dimensions)} ({row[2]})"]
    return []
