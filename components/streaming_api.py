"""The REST API variant of ChatApi (apiStreaming): the same routes, streamed by Lambda as they are generated.

HTTP APIs cannot stream a Lambda's answer; REST APIs can, through Lambda proxy integrations in the
`STREAM` response transfer mode that invoke the function with InvokeWithResponseStream
(https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html and
response-transfer-mode-lambda.html). A streamed response may last 15 minutes; the regional
endpoint cuts a stream that stays idle for 5. The function must write API Gateway's streaming
format, which `openai_proxy.lambda_runtime` does (ProxyFunction with `response_streaming=True`).
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_aws as aws

from components.api_spec import ROUTES, ApiEndpoints, ChatApiArgs, route_slug

STAGE_NAME = "api"
"""The stage: clients call https://<id>.execute-api.<region>.amazonaws.com/api/v1."""
# The ceiling for a STREAM integration (BUFFERED allows 29 s without a quota increase).
STREAM_TIMEOUT_MS = 900_000
# REST APIs have no routeKey; the method and resource path say which route was called.
REST_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "sourceIp": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationStatus": "$context.integration.status",
        "integrationLatency": "$context.integration.latency",
        "integrationError": "$context.integration.error",
    }
)


def streaming_rest_api(
    name: str, args: ChatApiArgs, parent: pulumi.Resource, log_group: aws.cloudwatch.LogGroup
) -> ApiEndpoints:
    """Build the regional REST API under `parent`, logging to `log_group`; return where clients reach it."""
    if args.function_streaming_invoke_arn is None:
        raise ValueError("a streaming ChatApi needs function_streaming_invoke_arn (ProxyFunction.streaming_invoke_arn)")
    if args.cors_origins:
        pulumi.log.warn("apiCorsOrigins is not applied with apiStreaming: the REST API answers no CORS preflight.")
    child = pulumi.ResourceOptions(parent=parent)

    api = aws.apigateway.RestApi(
        f"{name}-rest-api",
        description="OpenAI-compatible API of a SageMaker-hosted model (response streaming)",
        endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
        opts=child,
    )

    resources: dict[str, aws.apigateway.Resource] = {}

    def resource_id(path: str) -> pulumi.Input[str]:
        """The id of the resource for `path`, creating it and its ancestors once each."""
        if path in ("", "/"):
            return api.root_resource_id
        if path not in resources:
            parent_path, _, part = path.rpartition("/")
            resources[path] = aws.apigateway.Resource(
                f"{name}-resource-{route_slug(path)}",
                rest_api=api.id,
                parent_id=resource_id(parent_path),
                path_part=part,
                opts=child,
            )
        return resources[path].id

    methods, integrations = [], []
    for route in ROUTES:
        http_method, path = route.split(" ", 1)
        method = aws.apigateway.Method(
            f"{name}-method-{route_slug(route)}",
            rest_api=api.id,
            resource_id=resource_id(path),
            http_method=http_method,
            authorization="NONE",  # the proxy checks the API key itself, on every route but /health
            opts=child,
        )
        integrations.append(
            aws.apigateway.Integration(
                f"{name}-integration-{route_slug(route)}",
                rest_api=api.id,
                resource_id=method.resource_id,
                http_method=method.http_method,
                type="AWS_PROXY",
                integration_http_method="POST",
                uri=args.function_streaming_invoke_arn,
                response_transfer_mode="STREAM",
                timeout_milliseconds=STREAM_TIMEOUT_MS,
                opts=child,
            )
        )
        methods.append(method)

    # A REST API serves only what was deployed: redeploy whenever the routes or integrations change.
    fingerprint = pulumi.Output.json_dumps(
        {
            "routes": list(ROUTES),
            "uri": args.function_streaming_invoke_arn,
            "mode": "STREAM",
            "timeout": STREAM_TIMEOUT_MS,
            "integrations": [integration.id for integration in integrations],
        }
    ).apply(lambda text: hashlib.sha256(text.encode()).hexdigest())
    deployment = aws.apigateway.Deployment(
        f"{name}-deployment",
        rest_api=api.id,
        description="OpenAI routes with response streaming",
        triggers={"redeployment": fingerprint},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=methods + integrations),
    )
    access_logs, logging_ready = _access_logging(name, args, parent, log_group)
    stage = aws.apigateway.Stage(
        f"{name}-stage",
        rest_api=api.id,
        deployment=deployment.id,
        stage_name=STAGE_NAME,
        access_log_settings=access_logs,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=logging_ready),
    )
    throttling = aws.apigateway.MethodSettings(
        f"{name}-throttling",
        rest_api=api.id,
        stage_name=stage.stage_name,
        method_path="*/*",
        settings=aws.apigateway.MethodSettingsSettingsArgs(
            throttling_rate_limit=args.rate_limit,
            throttling_burst_limit=args.burst_limit,
        ),
        opts=child,
    )
    permission = aws.lambda_.Permission(
        f"{name}-invoke-permission",
        action="lambda:InvokeFunction",  # the action InvokeWithResponseStream is authorised by
        function=args.function_name,
        principal="apigateway.amazonaws.com",
        source_arn=pulumi.Output.format("{0}/{1}/*/*", api.execution_arn, STAGE_NAME),
        opts=child,
    )
    # Resolves only once the stage is throttled and the function may be invoked.
    api_url = pulumi.Output.all(stage.invoke_url, throttling.id, permission.id).apply(
        lambda values: f"{values[0].rstrip('/')}/v1"
    )
    return ApiEndpoints(api.id, stage.invoke_url, api_url, api.execution_arn)


def _access_logging(
    name: str, args: ChatApiArgs, parent: pulumi.Resource, log_group: aws.cloudwatch.LogGroup
) -> tuple[aws.apigateway.StageAccessLogSettingsArgs | None, list[pulumi.Resource]]:
    """The stage's access log settings and what must exist first; none without the account's CloudWatch role.

    A REST stage with access logs fails to create ("CloudWatch Logs role ARN must be set in account settings")
    until the account's API Gateway settings name a CloudWatch Logs role: that setting is one per account and
    region, shared by every REST API there, so the stack sets it only when asked (manage_cloudwatch_role).
    """
    if not args.manage_cloudwatch_role:
        pulumi.log.warn(
            "apiStreaming: the REST API's stage writes no access logs. REST APIs log only once the account's API "
            "Gateway settings name a CloudWatch Logs role; `pulumi config set apiGatewayCloudWatchRole true` makes "
            "this stack set it. That setting is account-wide (one per account and region, for every REST API "
            "there): it replaces any role already set."
        )
        return None, []
    account = cloudwatch_role_account(name, parent)
    settings = aws.apigateway.StageAccessLogSettingsArgs(destination_arn=log_group.arn, format=REST_ACCESS_LOG_FORMAT)
    return settings, [account]


def cloudwatch_role_account(name: str, parent: pulumi.Resource) -> aws.apigateway.Account:
    """A role API Gateway pushes logs to CloudWatch with, set as the account's (and region's) CloudWatch role.

    No aws:SourceAccount / aws:SourceArn condition: API Gateway documents none for this role, and it can do no
    more than write logs (AmazonAPIGatewayPushToCloudWatchLogs).
    """
    child = pulumi.ResourceOptions(parent=parent)
    partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=parent)).partition
    role = aws.iam.Role(
        f"{name}-cloudwatch-role",
        description="API Gateway's account-wide role for writing REST API logs to CloudWatch Logs",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "apigateway.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        opts=child,
    )
    attachment = aws.iam.RolePolicyAttachment(
        f"{name}-cloudwatch-role-policy",
        role=role.name,
        policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        opts=child,
    )
    # API Gateway checks the role's permissions when it is set: attach them first.
    return aws.apigateway.Account(
        f"{name}-account-settings",
        cloudwatch_role_arn=role.arn,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[attachment]),
    )
