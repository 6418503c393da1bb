"""GitHub's OIDC provider and the two roles CI assumes: preview (read-only) and deploy.

Why two roles: the preview workflow runs a pull request's code (its `__main__.py`, its lockfile); that code
gets a role that can change nothing. Only jobs in the deploy environments, which GitHub releases to the
deploy branch alone, get the deploy role. The documents themselves live in `ci_policies`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from ci_policies import (
    AUDIENCE,
    GITHUB_OIDC_HOST,
    deploy_policy,
    preview_policy,
    state_objects_of_a_preview,
    trust_policy,
)
from ci_settings import CiSettings


@dataclass(frozen=True)
class CiRolesArgs:
    """What `CiRoles` builds from."""

    settings: CiSettings
    """The validated bootstrap config."""


class CiRoles(pulumi.ComponentResource):
    """GitHub's OIDC provider (or the account's existing one) and the preview and deploy roles."""

    provider_arn: pulumi.Output[str]
    """ARN of the OIDC provider the roles trust."""
    preview_role_arn: pulumi.Output[str]
    """The read-only role: `vars.AWS_PREVIEW_ROLE_ARN`."""
    deploy_role_arn: pulumi.Output[str]
    """The deploy role: `vars.AWS_ROLE_ARN`."""
    secrets_providers: pulumi.Output[dict[str, str]]
    """Stack → its `awskms://` secrets provider URL (with `secretsKeys`; else empty)."""

    def __init__(self, name: str, args: CiRolesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:bootstrap:CiRoles", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        settings = args.settings
        partition = aws.get_partition_output(opts=invoke).partition
        account = aws.get_caller_identity_output(opts=invoke).account_id

        if settings.oidc_provider_arn:
            provider_arn: pulumi.Output[str] = pulumi.Output.from_input(settings.oidc_provider_arn)
        else:
            # For GitHub IAM trusts its own library of root CAs, so no thumbprint list is needed.
            provider_arn = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_id_lists=[AUDIENCE],
                opts=child,
            ).arn

        preview_role = aws.iam.Role(
            f"{name}-preview",
            description=f"GitHub Actions preview of {settings.github_repository}: read-only",
            assume_role_policy=provider_arn.apply(
                lambda arn: json.dumps(
                    trust_policy(arn, [settings.preview_subject()], pattern=settings.subject_includes_ref)
                )
            ),
            opts=child,
        )
        keys = _secrets_keys(name, settings, child)
        preview_key_arn = keys[settings.preview_stack].arn if keys else ""
        preview_objects = state_objects_of_a_preview(settings.project, settings.preview_stack, settings.state_prefix)
        aws.iam.RolePolicy(
            f"{name}-preview-read",
            role=preview_role.name,
            policy=pulumi.Output.all(partition, preview_key_arn).apply(
                lambda v: json.dumps(preview_policy(v[0], settings.state_bucket, preview_objects, v[1]))
            ),
            opts=child,
        )

        deploy_role = aws.iam.Role(
            f"{name}-deploy",
            description=f"GitHub Actions deploy of {settings.github_repository}: environments "
            + ", ".join(settings.deploy_environments),
            assume_role_policy=provider_arn.apply(
                lambda arn: json.dumps(trust_policy(arn, settings.deploy_subjects()))
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-deploy-stack",
            role=deploy_role.name,
            policy=pulumi.Output.all(
                partition,
                account,
                pulumi.Output.all(preview_role.arn, deploy_role.arn, provider_arn),
                pulumi.Output.all(*(key.arn for key in keys.values())),
            ).apply(
                lambda v: json.dumps(
                    deploy_policy(
                        v[0], v[1], v[2], settings.project, settings.state_bucket, settings.state_prefix, v[3]
                    )
                )
            ),
            opts=child,
        )
        region = aws.get_region_output(opts=invoke).region
        self.secrets_providers = region.apply(
            lambda r: {stack: f"awskms://{settings.secrets_key_alias(stack)}?region={r}" for stack in keys}
        )

        self.provider_arn = provider_arn
        self.preview_role_arn = preview_role.arn
        self.deploy_role_arn = deploy_role.arn
        self.register_outputs(
            {
                "providerArn": self.provider_arn,
                "previewRoleArn": self.preview_role_arn,
                "deployRoleArn": self.deploy_role_arn,
                "secretsProviders": self.secrets_providers,
            }
        )


def _secrets_keys(name: str, settings: CiSettings, opts: pulumi.ResourceOptions) -> dict[str, aws.kms.Key]:
    """With `secretsKeys`, one KMS key per stack behind its alias; else none.

    A key per stack is what lets the preview role decrypt the previewed stack's secrets and no other's. Each is
    protected: deleting it would leave that stack's state and config secrets unreadable.
    """
    if not settings.secrets_keys:
        return {}
    keys = {}
    for stack in settings.stacks:
        key = aws.kms.Key(
            f"{name}-secrets-{stack}",
            description=f"Pulumi secrets of the {settings.project} stack {stack}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)),
        )
        aws.kms.Alias(
            f"{name}-secrets-{stack}",
            name=settings.secrets_key_alias(stack),
            target_key_id=key.key_id,
            opts=opts,
        )
        keys[stack] = key
    return keys
