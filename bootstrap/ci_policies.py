"""The IAM documents of the CI roles, as pure functions of strings: who may assume each role, what it may do.

Tests read them without AWS; `ci_roles.CiRoles` turns them into resources.
"""

from __future__ import annotations

from ci_settings import MAIN_PROJECT
from preview_actions import preview_actions

# The main project's IAM module: `uv run` installs the project (components/ included) into the environment
# bootstrap runs in (see bootstrap/Pulumi.yaml's toolchain), so it imports from here as from the main program.
from components.iam import allow, deny, policy_document, web_identity_trust_policy

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# The audience aws-actions/configure-aws-credentials asks GitHub for.
AUDIENCE = "sts.amazonaws.com"

# The IAM services behind each pulumi-aws (or aws-native) module the stack creates resources in.
# A test runs the program and fails on a module missing here.
DEPLOY_SERVICES: dict[str, tuple[str, ...]] = {
    "sagemaker": ("sagemaker",),
    "lambda": ("lambda",),
    "apigateway": ("apigateway",),
    "apigatewayv2": ("apigateway",),
    "cloudwatch": ("logs", "cloudwatch"),
    "sns": ("sns",),  # alarmEmail's topic and subscription
    "appautoscaling": ("application-autoscaling",),
    "ec2": ("ec2",),
    "ebs": ("ec2",),
    "vpc": ("ec2",),
    "cloudfront": ("cloudfront",),
    "wafv2": ("wafv2",),
    "ssm": ("ssm",),
    "iam": ("iam",),
}
# Services the deploy role gets whole ("svc:*"): their resources carry Pulumi's generated names, so no
# ARN pattern would hold them. IAM and SSM are spelled out below instead: both reach beyond the stack.
_WHOLE_SERVICES = sorted({s for services in DEPLOY_SERVICES.values() for s in services} - {"iam", "ssm"})
_IAM_ROLE_ACTIONS = [
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRoleTags",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:GetInstanceProfile",
    "iam:TagInstanceProfile",
    "iam:UntagInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
]
# The services the stack hands its roles to (SageMaker, Lambda, EC2 for the UI host, API Gateway's log role).
_PASSED_TO = ["sagemaker.amazonaws.com", "lambda.amazonaws.com", "ec2.amazonaws.com", "apigateway.amazonaws.com"]
# Service-linked roles AWS creates on first use (endpoint autoscaling, API Gateway).
# events.amazonaws.com: AWSServiceRoleForCloudWatchEvents, which PutMetricAlarm creates for an alarm with an EC2
# action (the UI host's recover and reboot; CloudWatch's "Using service-linked roles for CloudWatch").
_LINKED_SERVICES = [
    "sagemaker.application-autoscaling.amazonaws.com",
    "ops.apigateway.amazonaws.com",
    "events.amazonaws.com",
]
# pulumi-aws-native (scaleToZero's inference component) goes through the Cloud Control API, IAM prefix
# cloudformation, which runs each resource's handlers with the caller's own permissions (those above).
CLOUD_CONTROL_ACTIONS = [
    "cloudformation:CreateResource",
    "cloudformation:GetResource",
    "cloudformation:UpdateResource",
    "cloudformation:DeleteResource",
    "cloudformation:ListResources",
    "cloudformation:GetResourceRequestStatus",
    "cloudformation:CancelResourceRequest",
]
_SSM_PARAMETER_ACTIONS = [
    "ssm:PutParameter",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:DeleteParameter",
    "ssm:AddTagsToResource",
    "ssm:RemoveTagsFromResource",
    "ssm:ListTagsForResource",
]


def _public_parameters(partition: str) -> str:
    # AWS's public parameters (latest AMI ids) have no account in their ARN.
    return f"arn:{partition}:ssm:*::parameter/aws/service/*"


def trust_policy(provider_arn: str, subjects: list[str], *, pattern: bool = False) -> dict:
    """Only GitHub tokens for sts.amazonaws.com whose `sub` is one of `subjects` may assume the role.

    `pattern` matches `subjects` with StringLike (a `*` in them); otherwise they must be equal.
    """
    match = "StringLike" if pattern else "StringEquals"
    condition: dict[str, dict] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE}}
    condition.setdefault(match, {})[f"{GITHUB_OIDC_HOST}:sub"] = subjects
    return web_identity_trust_policy(provider_arn, condition, sid="GitHubActions")


def state_objects_of_a_preview(project: str, stack: str, prefix: str = "") -> list[str]:
    """The S3 keys `pulumi preview` of one stack reads in a diy (S3) backend, under PULUMI_BACKEND_URL's path.

    pulumi/pulumi pkg/backend/diy: meta.go reads `.pulumi/meta.yaml` at login; store.go keeps a stack's
    checkpoint at `.pulumi/stacks/<project>/<stack>` + `.json`, `.json.gz` or `.json.zst` (and `.json.bak`);
    backend.go's Preview takes no lock, and only a run that is not a dry run writes history or backups.
    """
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return [f"{base}.pulumi/meta.yaml", f"{base}.pulumi/stacks/{project}/{stack}.json*"]


def _list_state(partition: str, state_bucket: str) -> dict:
    # Listing shows key names, no content; the backend lists to find a checkpoint's extension and to tell a
    # missing object (404) from a forbidden one (403).
    return allow(
        ["s3:ListBucket", "s3:GetBucketLocation"], f"arn:{partition}:s3:::{state_bucket}", sid="ListStackState"
    )


def preview_policy(
    partition: str, state_bucket: str = "", state_objects: list[str] | None = None, secrets_key_arn: str = ""
) -> dict:
    """Read-only: what the program's preview calls (preview_actions), one stack's state and its secrets' key.

    `state_objects`: keys from `state_objects_of_a_preview`, readable in `state_bucket`; `secrets_key_arn`: the
    KMS key of that stack's awskms:// secrets provider. No other stack's state or key.
    """
    # Describe/Get calls of EC2 and Lambda's account settings offer no resource-level scoping ("*").
    statements: list[dict] = [
        allow(
            actions,
            resource.format(partition=partition),
            sid="PreviewCalls" if resource == "*" else f"PreviewCallsScoped{index}",
        )
        for index, (resource, actions) in enumerate(preview_actions().items())
    ]
    if state_bucket:
        statements += [
            _list_state(partition, state_bucket),
            allow(
                "s3:GetObject",
                [f"arn:{partition}:s3:::{state_bucket}/{key}" for key in state_objects or []],
                sid="ReadPreviewStackState",
            ),
        ]
    if secrets_key_arn:
        statements.append(allow("kms:Decrypt", secrets_key_arn, sid="DecryptPreviewStackSecrets"))
    return policy_document(statements)


def deploy_policy(
    partition: str,
    account: str,
    protected_arns: list[str],
    project: str = MAIN_PROJECT,
    state_bucket: str = "",
    state_prefix: str = "",
    secrets_key_arns: list[str] | None = None,
) -> dict:
    """What `pulumi up`, `refresh` and `destroy` of the stacks need, and no say over the CI identity itself.

    `protected_arns`: the two CI roles and the OIDC provider; the deploy role may not change them. `project`:
    the main program's name, the first part of every SSM parameter name it creates (`components.stack_path`).
    """
    iam = f"arn:{partition}:iam::{account}"
    statements: list[dict] = [
        allow([f"{s}:*" for s in _WHOLE_SERVICES], "*", sid="StackServices"),
        allow(CLOUD_CONTROL_ACTIONS, "*", sid="CloudControl"),
        allow(_IAM_ROLE_ACTIONS, [f"{iam}:role/*", f"{iam}:instance-profile/*"], sid="StackRoles"),
        allow(
            "iam:PassRole",
            f"{iam}:role/*",
            sid="PassStackRoles",
            condition={"StringEquals": {"iam:PassedToService": _PASSED_TO}},
        ),
        allow(
            "iam:CreateServiceLinkedRole",
            f"{iam}:role/aws-service-role/*",
            sid="ServiceLinkedRoles",
            condition={"StringEquals": {"iam:AWSServiceName": _LINKED_SERVICES}},
        ),
        allow(
            _SSM_PARAMETER_ACTIONS,
            # `/<project>/<stack>/...` (an ARN drops the name's leading slash), and AWS's public parameters.
            [f"arn:{partition}:ssm:*:{account}:parameter/{project}/*", _public_parameters(partition)],
            sid="StackParameters",
        ),
        # DescribeParameters has no resource-level scoping.
        allow("ssm:DescribeParameters", "*", sid="ListParameters"),
        # A custom UI domain (uiCertificateArn): CloudFront reads the ACM certificate as the caller.
        allow(["acm:DescribeCertificate", "acm:ListCertificates"], "*", sid="ReadCertificates"),
    ]
    if state_bucket:
        base = f"{state_prefix.strip('/')}/" if state_prefix.strip("/") else ""
        statements += [
            _list_state(partition, state_bucket),
            allow(
                ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                f"arn:{partition}:s3:::{state_bucket}/{base}.pulumi/*",
                sid="ReadWriteStackState",
            ),
        ]
    if secrets_key_arns:
        statements.append(
            allow(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], secrets_key_arns, sid="StackSecrets")
        )
    # An explicit deny wins over every allow: deploy cannot widen its own trust or policies.
    statements.append(deny("iam:*", protected_arns, sid="KeepCiIdentity"))
    return policy_document(statements)
