"""The UI host's identity: Session Manager, and ssm:GetParameter on exactly the parameters it reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import allow, policy_document, service_trust_policy

SESSION_CHANNEL_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]


def host_instance_profile(
    name: str, read_statements: Sequence[pulumi.Input[dict[str, Any]]], parent: pulumi.Resource
) -> tuple[aws.iam.InstanceProfile, aws.iam.RolePolicy]:
    """The instance profile, and the policy that lets the host read its parameters (the host waits for it)."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=pulumi.Output.json_dumps(service_trust_policy("ec2.amazonaws.com")),
        opts=opts,
    )
    # Session Manager only. Not AmazonSSMManagedInstanceCore: it grants ssm:GetParameter(s) on
    # every parameter in the account, and this host must read exactly its own.
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    own_instances = pulumi.Output.format(
        "arn:{0}:ec2:{1}:{2}:instance/*",
        aws.get_partition_output(opts=invoke).partition,
        aws.get_region_output(opts=invoke).region,
        aws.get_caller_identity_output(opts=invoke).account_id,
    )
    aws.iam.RolePolicy(
        f"{name}-session-manager",
        role=role.id,
        policy=pulumi.Output.json_dumps(
            policy_document(
                [
                    allow("ssm:UpdateInstanceInformation", own_instances),
                    # The Session Manager channels have no resource to scope to: AWS requires "*".
                    allow(SESSION_CHANNEL_ACTIONS, "*"),
                ]
            )
        ),
        opts=opts,
    )
    read_secrets = aws.iam.RolePolicy(
        f"{name}-read-secrets",
        role=role.id,
        policy=pulumi.Output.json_dumps(policy_document(read_statements)),
        opts=opts,
    )
    return aws.iam.InstanceProfile(f"{name}-profile", role=role.name, opts=opts), read_secrets
