"""The HTTP API variant of ChatApi (apiStreaming false): buffered answers, cut by API Gateway at 30 s."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.api_spec import ROUTES, ApiEndpoints, ChatApiArgs, route_slug
from openai_proxy.contract import CORS_EXPOSED_HEADERS, GATEWAY_TIMEOUT_SECONDS

# API Gateway's ceiling for an HTTP API integration; it cannot be raised.
INTEGRATION_TIMEOUT_MS = GATEWAY_TIMEOUT_SECONDS * 1000
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


def http_api(name: str, args: ChatApiArgs, parent: pulumi.Resource, log_group: aws.cloudwatch.LogGroup) -> ApiEndpoints:
    """Build the HTTP API under `parent`, logging to `log_group`; return where clients reach it."""
    child = pulumi.ResourceOptions(parent=parent)

    cors = None
    if args.cors_origins:
        cors = aws.apigatewayv2.ApiCorsConfigurationArgs(
            allow_origins=list(args.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            # The openai JS SDK's preflight also asks for its x-stainless-* headers, which change between
            # releases: allow any. Authorization stays named, since the CORS spec's `*` does not cover it.
            # AWS's example value is "authorization, *":
            # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
            allow_headers=["authorization", "content-type", "*"],
            expose_headers=[name.strip() for name in CORS_EXPOSED_HEADERS.split(",")],
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
        opts=pulumi.ResourceOptions(parent=parent, depends_on=routes),
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
    return ApiEndpoints(api.id, api.api_endpoint, api_url, api.execution_arn, api_name=api.name, stage_name="$default")
