"""The stack's one aws-native provider, configured from the same stack settings as the aws provider.

pulumi-aws-native reads `aws-native:region` (else AWS_REGION) and `aws-native:profile` (else AWS_PROFILE),
never `aws:region` or `aws:profile` (pulumi-aws-native's provider Configure; pulumi_aws_native.Provider's
own defaults are those two variables). Without this provider an aws-native resource would be created in
whatever region the shell exports, or the preview would fail where none is exported.
"""

from __future__ import annotations

import pulumi
import pulumi_aws_native as aws_native


def aws_native_provider(name: str, *, aws_region: str, parent: pulumi.Resource) -> aws_native.Provider:
    """An aws-native provider in the stack's `aws:region` with its `aws:profile`.

    `aws_region` is the region the aws provider resolved (`aws.get_region()`), used when `aws:region` is unset
    (the aws provider then took it from the environment or the profile, as this one would not).
    """
    aws_config = pulumi.Config("aws")
    return aws_native.Provider(
        name,
        region=aws_config.get("region") or aws_region,
        profile=aws_config.get("profile"),  # None: AWS_PROFILE or the default credentials, as for the aws provider
        opts=pulumi.ResourceOptions(parent=parent),
    )
