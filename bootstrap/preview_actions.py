"""Every AWS call `pulumi preview --refresh=false` of the main program makes, and the source that makes it.

The preview role's policy is derived from these tables (`ci_policies.preview_policy`). tests/bootstrap runs
the program under mocks for each committed stack, at preview and at `up`, and fails on a function or a boto3
read missing here. Each row names the file that makes the calls: for an `aws:*` function the
terraform-provider-aws data source pulumi-aws runs (read at its 2026 main, the upstream of pulumi-aws 7.x);
for aws-native, pulumi/pulumi-aws-native's provider; for the program's own reads, this repository.
"""

from __future__ import annotations

from dataclasses import dataclass

TERRAFORM_AWS = "hashicorp/terraform-provider-aws"
AWS_NATIVE = "pulumi/pulumi-aws-native provider/pkg/provider/provider.go"


@dataclass(frozen=True)
class PreviewCall:
    """The IAM actions one call needs, and where that is written."""

    source: str
    """`owner/repository path` of the file that makes the calls (and the function, where it helps)."""
    actions: tuple[str, ...] = ()
    """Actions whose denial fails the preview."""
    tolerated: tuple[str, ...] = ()
    """Actions the provider makes but only logs a failure of; granted too, so nothing is denied on the way."""
    resource: str = "*"
    """What the actions are allowed on (`{partition}` is filled in); `*` where the API has no resource scoping."""

    @property
    def all_actions(self) -> tuple[str, ...]:
        """Everything the call sends to AWS."""
        return self.actions + self.tolerated


# The provider functions (invokes) the program calls, by token. Under `--refresh=false` they are the only
# calls pulumi-aws makes for the program: resources are diffed against the stored state.
INVOKES: dict[str, PreviewCall] = {
    # The provider's configured region and its partition, resolved from the SDK's endpoint tables offline.
    "aws:index/getRegion:getRegion": PreviewCall(f"{TERRAFORM_AWS} internal/service/meta/region_data_source.go"),
    "aws:index/getPartition:getPartition": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/meta/partition_data_source.go"
    ),
    "aws:index/getCallerIdentity:getCallerIdentity": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/sts/caller_identity_data_source.go", ("sts:GetCallerIdentity",)
    ),
    # DescribeVpcs, then findVPCAttribute three times (enableDnsHostnames, enableDnsSupport,
    # enableNetworkAddressUsageMetrics; each error fails the read), then findVPCMainRouteTable (a warning).
    "aws:ec2/getVpc:getVpc": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/ec2/vpc_data_source.go",
        ("ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"),
        tolerated=("ec2:DescribeRouteTables",),
    ),
    # Tags come with DescribeSubnets (ResourceTagsInline in service_package_gen.go): no DescribeTags.
    "aws:ec2/getSubnet:getSubnet": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/ec2/vpc_subnet_data_source.go", ("ec2:DescribeSubnets",)
    ),
    "aws:ec2/getSubnets:getSubnets": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/ec2/vpc_subnets_data_source.go", ("ec2:DescribeSubnets",)
    ),
    # DescribeImages; then GetInstanceUefiData with the image id, its error ignored.
    "aws:ec2/getAmi:getAmi": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/ec2/ec2_ami_data_source.go",
        ("ec2:DescribeImages",),
        tolerated=("ec2:GetInstanceUefiData",),
    ),
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/ec2/ec2_instance_type_offerings_data_source.go",
        ("ec2:DescribeInstanceTypeOfferings",),
    ),
    # The list (DescribeManagedPrefixLists), then its entries (GetManagedPrefixListEntries); both fatal.
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": PreviewCall(
        f"{TERRAFORM_AWS} internal/service/ec2/vpc_managed_prefix_list_data_source.go",
        ("ec2:DescribeManagedPrefixLists", "ec2:GetManagedPrefixListEntries"),
    ),
}

# What the providers do at preview besides the program's functions. An explicit aws-native Provider
# resource changes none of this: a provider is configured, not invoked.
PROVIDERS: dict[str, PreviewCall] = {
    # Credentials validation: GetCallerIdentity, and nothing else unless skip_credentials_validation is set.
    "aws: Configure": PreviewCall(
        "hashicorp/aws-sdk-go-base aws_config.go (GetAwsAccountIDAndPartition), from terraform-provider-aws "
        "internal/conns/config.go",
        ("sts:GetCallerIdentity",),
    ),
    "aws-native: Configure": PreviewCall(f"{AWS_NATIVE} (Configure)", ("sts:GetCallerIdentity",)),
    # Check validates against the embedded CloudFormation schema, Diff compares with state, and Create/Update
    # with `preview` return PreviewOutputs: no Cloud Control (cloudformation:GetResource) or CloudFormation call.
    "aws-native: a resource's Check, Diff, Create/Update(preview)": PreviewCall(
        f"{AWS_NATIVE} (Check, Diff, Create, Update: `if req.GetPreview()`)"
    ),
}

# What the program reads with boto3 itself (components/aws_reads.py), by the botocore operation it sends. Each
# read gives None when it is denied, and the program goes on with less said; granting them keeps the checks.
# The other read there, sagemaker:DescribeEndpoint, runs only during `up`, after a rolled-back endpoint update.
DIRECT_READS: dict[str, PreviewCall] = {
    # At preview, with apiMaxConcurrency: the account's Lambda concurrency quota.
    "lambda:GetAccountSettings": PreviewCall(
        "sagemaker-llm components/aws_reads.py (lambda_concurrency_limit)", ("lambda:GetAccountSettings",)
    ),
    # With apiStreaming and apiGatewayCloudWatchRole false: whether the account has a CloudWatch role set.
    # API Gateway's IAM actions are HTTP verbs on resource paths; this one reads only the account settings.
    "apigateway:GetAccount": PreviewCall(
        "sagemaker-llm components/aws_reads.py (apigateway_cloudwatch_role)",
        ("apigateway:GET",),
        resource="arn:{partition}:apigateway:*::/account",
    ),
}

# AWS answers these for any caller, whatever a policy says ("No permissions are required to perform this
# operation", STS API reference of GetCallerIdentity): the role needs no statement for them.
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})


def preview_actions() -> dict[str, list[str]]:
    """Every action a preview makes that a policy must allow, sorted, by the resource it is allowed on."""
    by_resource: dict[str, set[str]] = {}
    for call in [*INVOKES.values(), *PROVIDERS.values(), *DIRECT_READS.values()]:
        by_resource.setdefault(call.resource, set()).update(set(call.all_actions) - NO_PERMISSION_NEEDED)
    return {resource: sorted(actions) for resource, actions in sorted(by_resource.items()) if actions}
