"""The UI host's secrets: generated (or given), kept as SSM SecureStrings, read by the host at boot.

The user data, which EC2 keeps in plain text, holds only the parameters' names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import stack_path
from components.iam import allow


@dataclass(frozen=True)
class UiSecrets:
    """What ChatUiHost keeps secret, and the SSM parameters the host reads it from."""

    admin_password: pulumi.Output[str]
    """OpenWebUI's admin password (secret)."""
    admin_password_parameter: aws.ssm.Parameter
    """SecureString: WEBUI_ADMIN_PASSWORD."""
    secret_key_parameter: aws.ssm.Parameter
    """SecureString: WEBUI_SECRET_KEY, which signs OpenWebUI's sessions."""
    origin_secret: pulumi.Output[str]
    """The header value CloudFront adds to every request it forwards to the host (secret)."""
    origin_secret_parameter: aws.ssm.Parameter
    """SecureString: that value, for the host's reverse proxy to check."""

    def read_statement(self) -> pulumi.Output[dict[str, Any]]:
        """IAM statement allowing ssm:GetParameter on exactly these parameters."""
        parameters = (self.admin_password_parameter, self.secret_key_parameter, self.origin_secret_parameter)
        return pulumi.Output.from_input(allow("ssm:GetParameter", [parameter.arn for parameter in parameters]))


def ui_secrets(name: str, admin_password: pulumi.Input[str] | None, opts: pulumi.ResourceOptions) -> UiSecrets:
    """The admin password (generated when None), WEBUI_SECRET_KEY and the origin secret, each in a SecureString."""
    if admin_password is None:
        password = random.RandomPassword(f"{name}-admin-password", length=24, special=False, opts=opts).result
    else:
        password = pulumi.Output.secret(admin_password)
    secret_key = random.RandomPassword(f"{name}-secret-key", length=48, special=False, opts=opts).result
    # Letters and digits only: it travels in an HTTP header and sits in nginx's configuration.
    origin_secret = random.RandomPassword(f"{name}-origin-secret", length=40, special=False, opts=opts).result

    def parameter(key: str, value: pulumi.Output[str], description: str) -> aws.ssm.Parameter:
        return aws.ssm.Parameter(
            f"{name}-{key}",
            name=stack_path(name, key),
            type="SecureString",
            value=value,
            description=description,
            opts=opts,
        )

    return UiSecrets(
        admin_password=password,
        admin_password_parameter=parameter("admin-password", password, "OpenWebUI admin password"),
        secret_key_parameter=parameter("webui-secret-key", secret_key, "OpenWebUI WEBUI_SECRET_KEY (signs sessions)"),
        origin_secret=origin_secret,
        origin_secret_parameter=parameter(
            "origin-secret", origin_secret, "X-Origin-Verify value CloudFront sends to the OpenWebUI host"
        ),
    )
