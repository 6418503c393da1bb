"""ChatApi: the public OpenAI-compatible API (API Gateway) in front of the proxy function.

By default an HTTP API (buffered answers, 30 s); with `streaming` a REST API that streams
(components/streaming_api.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import stack_path

ROUTES = (
    "POST /v1/chat/completions",
    "POST /v1/completions",
    "GET /v1/models",
    # Greedy: Hugging Face ids have a slash (GET /v1/models/Qwen/Qwen2.5-1.5B-Instruct).
    "GET /v1/models/{model+}",
    "GET /health",
)
# API Gateway's ceiling for an HTTP API integration; it cannot be raised.
INTEGRATION_TIMEOUT_MS = 30_000
# One JSON object per request; no headers, so no Authorization value ever reaches the logs.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "sourceIp": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
    }
)


@dataclass(frozen=True)
class ChatApiArgs:
    """The function behind the API and the API's limits."""

    function_name: pulumi.Input[str]
    """Name of the proxy Lambda function (for its invoke permission)."""
    function_invoke_arn: pulumi.Input[str]
    """Invoke ARN of the proxy Lambda function (the integration's target)."""
    rate_limit: int = 10
    """Steady-state requests per second the stage accepts."""
    burst_limit: int = 20
    """Requests the stage accepts in a burst above the rate."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed by CORS; empty means no CORS (server-side callers need none)."""
    log_retention_days: int = 14
    """Days CloudWatch keeps the access logs."""
    streaming: bool = False
    """Build a REST API whose Lambda integrations stream (apiStreaming) instead of the HTTP API."""
    function_streaming_invoke_arn: pulumi.Input[str] | None = None
    """The function's response-streaming invocation URI (`ProxyFunction.streaming_invoke_arn`); for `streaming`."""


@dataclass(frozen=True)
class ApiEndpoints:
    """Where an API variant is reached."""

    api_id: pulumi.Output[str]
    api_endpoint: pulumi.Output[str]
    api_url: pulumi.Output[str]
    execution_arn: pulumi.Output[str]


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
        if args.streaming:
            from components.streaming_api import streaming_rest_api  # it imports this module

            endpoints = streaming_rest_api(name, args, self, ROUTES, log_group)
        else:
            endpoints = self._http_api(name, args, log_group)
        self.api_id = endpoints.api_id
        self.api_endpoint = endpoints.api_endpoint
        self.api_url = endpoints.api_url
        self.execution_arn = endpoints.execution_arn
        self.register_outputs(
            {
                "api_id": self.api_id,
                "api_endpoint": self.api_endpoint,
                "api_url": self.api_url,
                "execution_arn": self.execution_arn,
            }
        )

    def _http_api(self, name: str, args: ChatApiArgs, log_group: aws.cloudwatch.LogGroup) -> ApiEndpoints:
        child = pulumi.ResourceOptions(parent=self)

        cors = None
        if args.cors_origins:
            cors = aws.apigatewayv2.ApiCorsConfigurationArgs(
                allow_origins=list(args.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type"],
                max_age=3600,
            )
        api = aws.apigatewayv2.Api(
            f"{name}-api",
            protocol_type="HTTP",
            description="OpenAI-compatible API of a SageMaker-hosted model",
            cors_configuration=cors,
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=args.function_invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
            opts=child,
        )
        routes = [
            aws.apigatewayv2.Route(
                f"{name}-route-{route_slug(route_key)}",
                api_id=api.id,
                route_key=route_key,
                target=pulumi.Output.format("integrations/{0}", integration.id),
                opts=child,
            )
            for route_key in ROUTES
        ]
        stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=args.rate_limit,
                throttling_burst_limit=args.burst_limit,
            ),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=log_group.arn,
                format=ACCESS_LOG_FORMAT,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=routes),
        )
        permission = aws.lambda_.Permission(
            f"{name}-invoke-permission",
            action="lambda:InvokeFunction",
            function=args.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.format("{0}/*/*", api.execution_arn),
            opts=child,
        )

        # Resolves only once the stage, routes and permission exist: a consumer never gets a URL that fails.
        api_url = pulumi.Output.all(api.api_endpoint, stage.id, permission.id, *[r.id for r in routes]).apply(
            lambda values: f"{values[0]}/v1"
        )
        return ApiEndpoints(api.id, api.api_endpoint, api_url, api.execution_arn)


def route_slug(route_key: str) -> str:
    """`GET /v1/models/{model+}` → `get-v1-models-model`: a readable, unique child resource name."""
    return "-".join(route_key.lower().translate(str.maketrans("/", " ", "{}+")).split())
