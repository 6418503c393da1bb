"""What the program reads from the account with boto3 itself, where pulumi-aws has no data source for it.

Each read is bounded to a few seconds and gives None when it cannot be made (no permission, no network): a
check that cannot read does not stop a deploy.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pulumi

# A read must never hold `pulumi preview` or `up` for long.
_READ_CONFIG = botocore.config.Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2})
READ_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
# The IAM actions these reads need: lambda:GetAccountSettings at preview, sagemaker:DescribeEndpoint at `up`
# (only after a rolled-back update). A role without them deploys all the same, with less said.
READ_ACTIONS = ("lambda:GetAccountSettings", "sagemaker:DescribeEndpoint")


def client(service: str, region: str) -> Any:
    """A boto3 client for `region` with the credentials the aws provider uses (its `aws:profile`, else the default)."""
    profile = pulumi.Config("aws").get("profile")
    return boto3.session.Session(profile_name=profile or None, region_name=region).client(service, config=_READ_CONFIG)


def lambda_concurrency_limit(region: str, lambda_client: Any = None) -> int | None:
    """The account's Lambda concurrent executions quota in `region` (GetAccountSettings), or None."""
    try:
        lambda_client = lambda_client or client("lambda", region)
        return lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    except READ_ERRORS:
        return None


def apigateway_cloudwatch_role(region: str, apigateway_client: Any = None) -> str | None:
    """The account's API Gateway CloudWatch Logs role ARN in `region` (GetAccount): "" when none is set, None
    when it cannot be read. Its IAM action is apigateway:GET on arn:aws:apigateway:<region>::/account, not an
    operation name; it is read only when the stack does not set the role itself (apiGatewayCloudWatchRole false)."""
    try:
        apigateway_client = apigateway_client or client("apigateway", region)
        return apigateway_client.get_account().get("cloudwatchRoleArn") or ""
    except READ_ERRORS:
        return None
