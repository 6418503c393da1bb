"""ChatApi: the public OpenAI-compatible API (API Gateway) in front of the proxy function.

With `streaming` (apiStreaming, the stacks' default) a REST API that streams (components/streaming_api.py);
without it an HTTP API (buffered answers, 30 s; components/http_api.py). Both take the same ChatApiArgs
(components/api_spec.py).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components import stack_path
from components.alarms import ApiMetricSource
from components.api_spec import ROUTES, ApiEndpoints, ChatApiArgs
from components.http_api import http_api
from components.streaming_api import streaming_rest_api

__all__ = ["ROUTES", "ChatApi", "ChatApiArgs"]


class ChatApi(pulumi.ComponentResource):
    """An API Gateway API routing the OpenAI endpoints to the proxy, throttled and access-logged."""

    api_id: pulumi.Output[str]
    """The HTTP API's (or, streaming, the REST API's) id."""
    api_endpoint: pulumi.Output[str]
    """The API's base URL (https://<id>.execute-api.<region>.amazonaws.com, plus /api when streaming)."""
    api_url: pulumi.Output[str]
    """The OpenAI base URL clients use (…/v1)."""
    execution_arn: pulumi.Output[str]
    """The API's execution ARN (what Lambda permissions are scoped to)."""

    def __init__(self, name: str, args: ChatApiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:index:ChatApi", name, None, opts)
        # One access log group for either kind of API: switching apiStreaming keeps it (and its logs).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=stack_path(name, "access"),
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        build = streaming_rest_api if args.streaming else http_api
        endpoints = build(name, args, self, log_group)
        self.api_id = endpoints.api_id
        self.api_endpoint = endpoints.api_endpoint
        self.api_url = endpoints.api_url
        self.execution_arn = endpoints.execution_arn
        self._metric_source = api_metric_source(args.streaming, endpoints)
        self.register_outputs(
            {
                "api_id": self.api_id,
                "api_endpoint": self.api_endpoint,
                "api_url": self.api_url,
                "execution_arn": self.execution_arn,
            }
        )

    def metric_source(self) -> ApiMetricSource:
        """Where CloudWatch measures this API (its kind and dimensions), for alarms and dashboards."""
        return self._metric_source


def api_metric_source(streaming: bool, endpoints: ApiEndpoints) -> ApiMetricSource:
    """An HTTP API is measured by ApiId and Stage, a REST API by ApiName (the name, not the id) and Stage:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html"""
    if streaming:
        return ApiMetricSource("rest", {"ApiName": endpoints.api_name, "Stage": endpoints.stage_name})
    return ApiMetricSource("http", {"ApiId": endpoints.api_id, "Stage": endpoints.stage_name})
