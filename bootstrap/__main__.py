"""sagemaker-llm-bootstrap, run once per account: read the config, build the CI roles, export their ARNs."""

import pulumi
from ci_roles import CiRoles, CiRolesArgs
from ci_settings import load_ci_settings

roles = CiRoles("ci", CiRolesArgs(settings=load_ci_settings()))

pulumi.export("previewRoleArn", roles.preview_role_arn)
pulumi.export("deployRoleArn", roles.deploy_role_arn)
pulumi.export("oidcProviderArn", roles.provider_arn)
# Per stack, the URL for `pulumi stack change-secrets-provider` (with secretsKeys).
pulumi.export("secretsProviders", roles.secrets_providers)
