"""The stack's CloudWatch dashboard body, as a pure function of resolved names.

Body structure: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
(widgets with type, x, y, width, height, properties; a metric widget needs `region` and its `metrics` are arrays).
Metric names and dimensions: see components/alarms.py; the proxy's own come from openai_proxy/request_metrics.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.alarms import API_GATEWAY, API_METRIC_NAMES, LAMBDA, SAGEMAKER
from openai_proxy.request_metrics import ENDPOINT_DIMENSION, MODEL_DIMENSION, NAMESPACE

ENDPOINT_INSTANCES = "/aws/sagemaker/Endpoints"  # the leading slash is part of the name
COMPONENT_COPIES = "/aws/sagemaker/InferenceComponents"
WIDTH, HEIGHT = 12, 6  # two graphs per row on the dashboard's 24-column grid
PERCENTILES = ("p50", "p90", "p99")
MINUTE = 60


@dataclass(frozen=True)
class DashboardView:
    """The resolved names a dashboard shows."""

    name: str
    region: str
    endpoint_name: str
    variant_name: str
    component_name: str | None
    function_name: str
    reserved_concurrency: int
    api_kind: str
    api_dimensions: Mapping[str, str]
    served_model_names: Sequence[str]
    alarm_arns: Sequence[str]


def dashboard_name(project: str, stack: str) -> str:
    """`<project>-<stack>`, in the characters a dashboard name may have (A-Z, a-z, 0-9, - and _)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{project}-{stack}")[:255]


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


def dashboard_body(view: DashboardView) -> dict[str, Any]:
    graphs = [
        _graph(view, "Requests and errors by status (API)", _api_requests(view)),
        _graph(view, "Proxy: requests, errors, cuts at the deadline", _proxy_requests(view)),
        _graph(
            view, "API latency p50/p90/p99 (ms)", _percentiles(API_GATEWAY, _api(view, "latency"), view.api_dimensions)
        ),
        _graph(view, "Proxy latency p50/p90/p99 (ms)", _proxy_percentiles(view, "latency_ms")),
        _graph(
            view,
            "Model latency p50/p90/p99 (ModelLatency, microseconds)",
            _percentiles(SAGEMAKER, "ModelLatency", _model(view)),
        ),
        _graph(
            view, "Time to first token p50/p90/p99 (streamed, ms)", _proxy_percentiles(view, "time_to_first_token_ms")
        ),
        _graph(view, "Tokens per minute in and out, per model", _tokens(view)),
        _graph(view, "Model copies and instances (from invocations: no data while idle)", _capacity(view)),
        _graph(view, "GPU utilisation and GPU memory (%)", _gpu(view)),
        _graph(view, "Proxy concurrency against its reserve, and throttles", _concurrency(view), _reserve(view)),
    ]
    widgets = [_header(view), _alarms(view)]
    top = sum(widget["height"] for widget in widgets)
    for index, graph in enumerate(graphs):
        graph |= {"x": (index % 2) * WIDTH, "y": top + (index // 2) * HEIGHT, "width": WIDTH, "height": HEIGHT}
        widgets.append(graph)
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}


def _header(view: DashboardView) -> dict[str, Any]:
    models = ", ".join(f"`{model}`" for model in view.served_model_names)
    markdown = (
        f"# {view.name}\n"
        f"Model {models} on endpoint `{view.endpoint_name}`"
        + (f" (inference component `{view.component_name}`, scales to zero)" if view.component_name else "")
        + f"; proxy `{view.function_name}`; {view.api_kind.upper()} API. "
        "Saved Logs Insights queries: CloudWatch, Logs Insights, Saved queries."
    )
    return {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": markdown}}


def _alarms(view: DashboardView) -> dict[str, Any]:
    properties = {"title": "Alarms", "alarms": list(view.alarm_arns)}
    return {"type": "alarm", "x": 0, "y": 2, "width": 24, "height": 3, "properties": properties}


def _graph(view: DashboardView, title: str, metrics: list[list[Any]], extra: Mapping[str, Any] | None = None):
    properties = {"title": title, "region": view.region, "view": "timeSeries", "period": MINUTE, "metrics": metrics}
    return {"type": "metric", "properties": properties | dict(extra or {})}


def _metric(namespace: str, name: str, dimensions: Mapping[str, str], **options: Any) -> list[Any]:
    return [namespace, name, *[part for pair in dimensions.items() for part in pair], options]


def _api(view: DashboardView, what: str) -> str:
    return API_METRIC_NAMES[view.api_kind][what]


def _model(view: DashboardView) -> dict[str, str]:
    if view.component_name:
        return {"InferenceComponentName": view.component_name}
    return {"EndpointName": view.endpoint_name, "VariantName": view.variant_name}


def _proxy(view: DashboardView, model: str) -> dict[str, str]:
    return {ENDPOINT_DIMENSION: view.endpoint_name, MODEL_DIMENSION: model}


def _percentiles(namespace: str, metric: str, dimensions: Mapping[str, str]) -> list[list[Any]]:
    return [_metric(namespace, metric, dimensions, stat=p, label=p) for p in PERCENTILES]


def _api_requests(view: DashboardView) -> list[list[Any]]:
    labels = {"requests": "requests", "client_errors": "4xx", "server_errors": "5xx"}
    return [
        _metric(API_GATEWAY, _api(view, what), view.api_dimensions, stat="Sum", label=label)
        for what, label in labels.items()
    ]


def _proxy_requests(view: DashboardView) -> list[list[Any]]:
    metrics = []
    for model in view.served_model_names:
        dims = _proxy(view, model)
        metrics += [
            _metric(NAMESPACE, "latency_ms", dims, stat="SampleCount", label=f"requests {model}"),
            _metric(NAMESPACE, "errors", dims, stat="Sum", label=f"errors {model}"),
            _metric(NAMESPACE, "deadline_cuts", dims, stat="Sum", label=f"cut at deadline {model}"),
        ]
    return [
        *metrics,
        _metric(LAMBDA, "Errors", {"FunctionName": view.function_name}, stat="Sum", label="Lambda errors"),
    ]


def _proxy_percentiles(view: DashboardView, metric: str) -> list[list[Any]]:
    return [
        _metric(NAMESPACE, metric, _proxy(view, model), stat=p, label=f"{p} {model}")
        for model in view.served_model_names
        for p in PERCENTILES
    ]


def _tokens(view: DashboardView) -> list[list[Any]]:
    return [
        _metric(NAMESPACE, metric, _proxy(view, model), stat="Sum", label=f"{way} {model}")
        for model in view.served_model_names
        for metric, way in (("prompt_tokens", "in"), ("completion_tokens", "out"))
    ]


def _capacity(view: DashboardView) -> list[list[Any]]:
    # InvocationsPerInstance sends 1/instances per request, so Invocations / InvocationsPerInstance = instances;
    # InvocationsPerCopy likewise gives copies (AWS/SageMaker's endpoint invocation metrics).
    endpoint = {"EndpointName": view.endpoint_name, "VariantName": view.variant_name}
    metrics = [
        _metric(SAGEMAKER, "Invocations", endpoint, stat="Sum", id="endpoint_calls", visible=False),
        _metric(SAGEMAKER, "InvocationsPerInstance", endpoint, stat="Sum", id="per_instance", visible=False),
        [{"expression": "endpoint_calls / per_instance", "label": "instances", "id": "instances"}],
    ]
    if view.component_name:
        component = {"InferenceComponentName": view.component_name}
        metrics += [
            _metric(SAGEMAKER, "Invocations", component, stat="Sum", id="component_calls", visible=False),
            _metric(SAGEMAKER, "InvocationsPerCopy", component, stat="Sum", id="per_copy", visible=False),
            [{"expression": "component_calls / per_copy", "label": "copies", "id": "copies"}],
            _metric(SAGEMAKER, "NoCapacityInvocationFailures", component, stat="Sum", label="requests finding no copy"),
        ]
    return metrics


def _gpu(view: DashboardView) -> list[list[Any]]:
    # /aws/sagemaker/Endpoints: 0-100 % per GPU, summed over the instance's GPUs.
    endpoint = {"EndpointName": view.endpoint_name, "VariantName": view.variant_name}
    metrics = [
        _metric(ENDPOINT_INSTANCES, "GPUUtilization", endpoint, stat="Average", label="GPU (instance)"),
        _metric(ENDPOINT_INSTANCES, "GPUMemoryUtilization", endpoint, stat="Average", label="GPU memory (instance)"),
    ]
    if view.component_name:
        component = {"InferenceComponentName": view.component_name}
        metrics += [
            _metric(COMPONENT_COPIES, "GPUUtilizationNormalized", component, stat="Average", label="GPU (copies)"),
            _metric(
                COMPONENT_COPIES,
                "GPUMemoryUtilizationNormalized",
                component,
                stat="Average",
                label="GPU memory (copies)",
            ),
        ]
    return metrics


def _concurrency(view: DashboardView) -> list[list[Any]]:
    function = {"FunctionName": view.function_name}
    return [
        _metric(LAMBDA, "ConcurrentExecutions", function, stat="Maximum", label="concurrent requests"),
        _metric(LAMBDA, "Throttles", function, stat="Sum", label="throttled", yAxis="right"),
    ]


def _reserve(view: DashboardView) -> dict[str, Any]:
    if view.reserved_concurrency <= 0:
        return {}
    line = {"label": "reserved concurrency (apiMaxConcurrency)", "value": view.reserved_concurrency}
    return {"annotations": {"horizontal": [line]}}
