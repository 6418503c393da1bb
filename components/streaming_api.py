"""The REST API variant of ChatApi (apiStreaming, the default): the same routes, streamed as they are generated.

HTTP APIs cannot stream a Lambda's answer; REST APIs can, through Lambda proxy integrations in the
`STREAM` response transfer mode that invoke the function with InvokeWithResponseStream
(https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode.html and
response-transfer-mode-lambda.html). A streamed response may last 15 minutes; the regional
endpoint cuts a stream that stays idle for 5. The function must write API Gateway's streaming
format, which `openai_proxy.lambda_runtime` does (ProxyFunction with `response_streaming=True`).
The API itself is one OpenAPI document (components/rest_api_document.py), so each deployment is one change.
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_aws as aws

from components import aws_reads
from components.api_spec import ApiEndpoints, ChatApiArgs
from components.iam import service_trust_policy
from components.rest_api_document import STREAM_TIMEOUT_MS, openapi_document

__all__ = ["REST_ACCESS_LOG_FORMAT", "STAGE_NAME", "STREAM_TIMEOUT_MS", "streaming_rest_api"]

STAGE_NAME = "api"
"""The stage: clients call https://<id>.execute-api.<region>.amazonaws.com/api/v1."""
# REST APIs have no routeKey; the method and resource path say which route was called. The integration.*
# timings and transfer mode are the variables AWS documents for streamed responses
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/response-streaming-troubleshoot.html).
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
        "gatewayResponse": "$context.error.responseType",
        "integrationStatus": "$context.integration.status",
        "integrationLatency": "$context.integration.latency",
        "integrationError": "$context.integration.error",
        "responseTransferMode": "$context.integration.responseTransferMode",
        "timeToAllHeaders": "$context.integration.timeToAllHeaders",
        "timeToFirstContent": "$context.integration.timeToFirstContent",
    }
)


class CloudWatchRoleMissingError(pulumi.RunError):
    """The stage would log, and the account has no API Gateway CloudWatch role: stop before anything is created."""


def streaming_rest_api(
    name: str, args: ChatApiArgs, parent: pulumi.Resource, log_group: aws.cloudwatch.LogGroup
) -> ApiEndpoints:
    """Build the regional REST API under `parent`, logging to `log_group`; return where clients reach it."""
    if args.function_streaming_invoke_arn is None:
        raise ValueError("a streaming ChatApi needs function_streaming_invoke_arn (ProxyFunction.streaming_invoke_arn)")
    child = pulumi.ResourceOptions(parent=parent)
    # Checked before any resource of the API exists: a stage refused half-way would leave a broken API.
    logging_ready = _account_logging(name, args, parent)

    body = pulumi.Output.from_input(args.function_streaming_invoke_arn).apply(
        lambda uri: json.dumps(
            openapi_document(uri, args.rate_limit, args.burst_limit, args.cors_origins), sort_keys=True
        )
    )
    api = aws.apigateway.RestApi(
        f"{name}-rest-api",
        description="OpenAI-compatible API of a SageMaker-hosted model (response streaming)",
        body=body,
        put_rest_api_mode="overwrite",  # the document is the whole API: what it lacks is removed
        fail_on_warnings=True,  # a part API Gateway would skip (a streaming setting, say) stops the deploy instead
        endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
        opts=child,
    )
    # A REST API serves only what was deployed: a new document makes a new deployment, made after the import.
    deployment = aws.apigateway.Deployment(
        f"{name}-deployment",
        rest_api=api.id,
        description="OpenAI routes with response streaming",
        triggers={"redeployment": body.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())},
        opts=child,
    )
    stage = aws.apigateway.Stage(
        f"{name}-stage",
        rest_api=api.id,
        deployment=deployment.id,
        stage_name=STAGE_NAME,
        access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
            destination_arn=log_group.arn, format=REST_ACCESS_LOG_FORMAT
        ),
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
    return ApiEndpoints(api.id, stage.invoke_url, api_url, api.execution_arn, api_name=api.name, stage_name=STAGE_NAME)


def _account_logging(name: str, args: ChatApiArgs, parent: pulumi.Resource) -> list[pulumi.Resource]:
    """What must exist before the stage can log: the account's API Gateway CloudWatch role.

    A REST stage with access logs fails to create ("CloudWatch Logs role ARN must be set in account settings")
    until the account's API Gateway settings name a CloudWatch Logs role, one per account and region, shared by
    every REST API there. By default the stack sets it; with manage_cloudwatch_role off it must already be set.
    """
    region = aws.get_region(opts=pulumi.InvokeOptions(parent=parent)).region
    if args.manage_cloudwatch_role:
        pulumi.log.warn(
            f"apiGatewayCloudWatchRole: this stack sets the API Gateway CloudWatch Logs role of the account in "
            f"{region}, which REST API access logs need. It is account-wide (one per account and region, used by "
            "every REST API there) and replaces any role already set. `pulumi destroy` keeps the setting and its "
            "role, so other APIs keep logging. If your account already has one: "
            "`pulumi config set apiGatewayCloudWatchRole false`."
        )
        return [cloudwatch_role_account(name, parent)]
    role = aws_reads.apigateway_cloudwatch_role(region)
    if role == "":
        raise CloudWatchRoleMissingError(
            f"apiGatewayCloudWatchRole is false, and this account has no API Gateway CloudWatch Logs role in "
            f"{region}: the REST API's stage, which logs every request, could not be created. Let the stack set "
            "it (`pulumi config set apiGatewayCloudWatchRole true`), or have your account's administrator set one "
            "(API Gateway console, Settings)."
        )
    if role is None:
        pulumi.log.warn(
            "apiGatewayCloudWatchRole is false and the account's API Gateway settings could not be read "
            "(apigateway:GET on /account): if no CloudWatch Logs role is set there, creating the stage fails with "
            '"CloudWatch Logs role ARN must be set in account settings".'
        )
    return []


def cloudwatch_role_account(name: str, parent: pulumi.Resource) -> aws.apigateway.Account:
    """A role API Gateway pushes logs to CloudWatch with, set as the account's (and region's) CloudWatch role.

    Both are kept on `pulumi destroy` (retain_on_delete), as CDK keeps its own by default: pulumi-aws 7 resets the
    account setting when an Account resource is deleted, which would stop every other REST API there from
    logging. No aws:SourceAccount / aws:SourceArn condition: API Gateway documents none for this role, and it can
    do no more than write logs (AmazonAPIGatewayPushToCloudWatchLogs).
    """
    kept = pulumi.ResourceOptions(parent=parent, retain_on_delete=True)
    partition = aws.get_partition(opts=pulumi.InvokeOptions(parent=parent)).partition
    role = aws.iam.Role(
        f"{name}-cloudwatch-role",
        description="API Gateway's account-wide role for writing REST API logs to CloudWatch Logs",
        assume_role_policy=json.dumps(service_trust_policy("apigateway.amazonaws.com")),
        opts=kept,
    )
    attachment = aws.iam.RolePolicyAttachment(
        f"{name}-cloudwatch-role-policy",
        role=role.name,
        policy_arn=f"arn:{partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        opts=kept,
    )
    # API Gateway checks the role's permissions when it is set: attach them first.
    return aws.apigateway.Account(
        f"{name}-account-settings",
        cloudwatch_role_arn=role.arn,
        opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=[attachment])),
    )
