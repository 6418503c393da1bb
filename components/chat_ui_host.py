"""ChatUiHost: OpenWebUI on one EC2 host, wired to the API through its user data.

The host keeps OpenWebUI's data (accounts, chat history) on a separate encrypted EBS volume, so
replacing the instance (a new API URL, a new image) keeps every conversation. Secrets live in
SSM SecureStrings that the host reads at boot with its instance role; the user data, which EC2
keeps in plain text, holds only parameter names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import stack_path
from openwebui.user_data import render_user_data

if TYPE_CHECKING:
    from components.settings import Settings

UI_PORT = 80  # the host's port; the container listens on 8080 and docker maps 80 to it
SSH_PORT = 22
DATA_DEVICE_NAME = "/dev/sdf"  # shows as an NVMe device on Nitro; the boot script finds it by volume id
ROOT_VOLUME_GB = 30  # AL2023 plus the OpenWebUI image (several GB)
SESSION_CHANNEL_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]
DEFAULT_ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class ChatUiHostArgs:
    api_url: pulumi.Input[str]
    """OpenAI base URL of the API (ending in /v1): OpenWebUI's OPENAI_API_BASE_URL."""
    api_key_parameter_name: pulumi.Input[str]
    """SSM SecureString holding the API key; the host reads it at boot."""
    api_key_read_statement: pulumi.Input[Mapping[str, Any]]
    """IAM statement allowing ssm:GetParameter on that parameter (from ProxyFunction.read_key_statement())."""
    model_id: pulumi.Input[str]
    """Public model id, preselected in a new chat."""
    settings: Settings
    """Stack settings: ui_instance_type, ui_allowed_cidr, ssh_key_name, ssh_allowed_cidr, the image."""
    vpc_id: pulumi.Input[str]
    """VPC of the host."""
    subnet_id: pulumi.Input[str]
    """Public subnet of the host, in vpc_id; the data volume is created in its availability zone."""
    admin_email: str = DEFAULT_ADMIN_EMAIL
    """E-mail of the admin account OpenWebUI creates on its first start."""
    admin_password: pulumi.Input[str] | None = None
    """Admin password; generated when None."""
    data_volume_gb: int = 20
    """Size of the data volume (OpenWebUI's /app/backend/data)."""


def ami_architecture(instance_type: str) -> str:
    """AL2023 image architecture for an instance type: Graviton families (a1, t4g, m7g, c7gn…) are arm64."""
    family = instance_type.split(".", 1)[0]
    return "arm64" if family == "a1" or re.fullmatch(r"[a-z]+\d+g[a-z]*", family) else "x86_64"


class ChatUiHost(pulumi.ComponentResource):
    """OpenWebUI on EC2 behind an Elastic IP, signed in as the admin, talking to the API."""

    ui_url: pulumi.Output[str]
    """http://<elastic ip>: where a person opens the UI."""
    admin_email: pulumi.Output[str]
    """E-mail of the admin account."""
    admin_password: pulumi.Output[str]
    """Password of the admin account (secret)."""
    instance_id: pulumi.Output[str]
    """The EC2 instance (reach it with Session Manager: aws ssm start-session --target <id>)."""
    data_volume_id: pulumi.Output[str]
    """The EBS volume holding OpenWebUI's data; it outlives the instance."""

    def __init__(self, name: str, args: ChatUiHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:index:ChatUiHost", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        label = f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}"  # Name tags: findable in the console
        settings = args.settings

        # Secrets: generated (or given), kept as SecureStrings, read by the host at boot.
        if args.admin_password is None:
            admin_password = random.RandomPassword(
                f"{name}-admin-password", length=24, special=False, opts=child
            ).result
        else:
            admin_password = pulumi.Output.secret(args.admin_password)
        secret_key = random.RandomPassword(f"{name}-secret-key", length=48, special=False, opts=child).result
        admin_password_parameter = aws.ssm.Parameter(
            f"{name}-admin-password",
            name=stack_path(name, "admin-password"),
            type="SecureString",
            value=admin_password,
            description="OpenWebUI admin password",
            opts=child,
        )
        secret_key_parameter = aws.ssm.Parameter(
            f"{name}-secret-key",
            name=stack_path(name, "webui-secret-key"),
            type="SecureString",
            value=secret_key,
            description="OpenWebUI WEBUI_SECRET_KEY (signs sessions)",
            opts=child,
        )

        # Network: the UI port to uiAllowedCidr only; SSH only when a key and a CIDR are both given.
        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="OpenWebUI host", opts=child
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-ui-in",
            security_group_id=security_group.id,
            ip_protocol="tcp",
            from_port=UI_PORT,
            to_port=UI_PORT,
            cidr_ipv4=settings.ui_allowed_cidr,
            description="OpenWebUI",
            opts=child,
        )
        if settings.ssh_enabled:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-ssh-in",
                security_group_id=security_group.id,
                ip_protocol="tcp",
                from_port=SSH_PORT,
                to_port=SSH_PORT,
                cidr_ipv4=settings.ssh_allowed_cidr,
                description="SSH",
                opts=child,
            )
        # Out: the image registry, the API, SSM and the OS package mirrors.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-all-out",
            security_group_id=security_group.id,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="image pulls, the API, SSM",
            opts=child,
        )

        # Identity: Session Manager, and ssm:GetParameter on exactly the three parameters it reads.
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        # Session Manager only. Not AmazonSSMManagedInstanceCore: it grants ssm:GetParameter(s) on
        # every parameter in the account, and this host must read exactly its own three.
        invoke = pulumi.InvokeOutputOptions(parent=self)
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
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": own_instances},
                        # The Session Manager channels have no resource to scope to: AWS requires "*".
                        {"Effect": "Allow", "Action": SESSION_CHANNEL_ACTIONS, "Resource": "*"},
                    ],
                }
            ),
            opts=child,
        )
        read_secrets = aws.iam.RolePolicy(
            f"{name}-read-secrets",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "ssm:GetParameter",
                            "Resource": [admin_password_parameter.arn, secret_key_parameter.arn],
                        },
                        args.api_key_read_statement,
                    ],
                }
            ),
            opts=child,
        )
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, opts=child)

        # Data: its own encrypted volume in the subnet's zone, so the instance can come and go.
        zone = aws.ec2.get_subnet_output(id=args.subnet_id).availability_zone
        data_volume = aws.ebs.Volume(
            f"{name}-data",
            availability_zone=zone,
            size=args.data_volume_gb,
            type="gp3",
            encrypted=True,
            tags={"Name": f"{label}-data", "Purpose": "OpenWebUI /app/backend/data"},
            opts=child,
        )

        ami = aws.ec2.get_ami_output(
            most_recent=True,
            owners=["amazon"],
            filters=[
                {"name": "name", "values": ["al2023-ami-2023.*"]},
                {"name": "architecture", "values": [ami_architecture(settings.ui_instance_type)]},
                {"name": "virtualization-type", "values": ["hvm"]},
            ],
        )
        user_data = pulumi.Output.all(
            api_url=args.api_url,
            model_id=args.model_id,
            data_volume_id=data_volume.id,
            api_key_parameter=args.api_key_parameter_name,
            admin_password_parameter=admin_password_parameter.name,
            secret_key_parameter=secret_key_parameter.name,
        ).apply(
            lambda v: render_user_data(
                image=settings.open_web_ui_image,
                data_volume_id=v["data_volume_id"],
                ui_port=UI_PORT,
                stack_env={
                    "OPENAI_API_BASE_URL": v["api_url"],
                    "DEFAULT_MODELS": v["model_id"],
                    "WEBUI_ADMIN_EMAIL": args.admin_email,
                },
                secret_parameters={
                    "OPENAI_API_KEY": v["api_key_parameter"],
                    "WEBUI_ADMIN_PASSWORD": v["admin_password_parameter"],
                    "WEBUI_SECRET_KEY": v["secret_key_parameter"],
                },
            )
        )
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=ami.id,
            instance_type=settings.ui_instance_type,
            subnet_id=args.subnet_id,
            vpc_security_group_ids=[security_group.id],
            iam_instance_profile=profile.name,
            key_name=settings.ssh_key_name if settings.ssh_enabled else None,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only
                # One hop: the host's own aws CLI reaches the metadata service, the OpenWebUI container
                # (a hop further) cannot, so nothing in it can take the instance role's credentials.
                "http_put_response_hop_limit": 1,
            },
            root_block_device={"encrypted": True, "volume_type": "gp3", "volume_size": ROOT_VOLUME_GB},
            user_data=user_data,
            # A new API URL, image or volume gives a new host; the data volume stays.
            user_data_replace_on_change=True,
            tags={"Name": label},
            # A newer AL2023 release should not recreate the host at every `pulumi up`.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["ami"], depends_on=[read_secrets]),
        )
        # Delete-before-replace: the old host is stopped and the volume detached before the new
        # host gets it (its boot script waits for the device).
        aws.ec2.VolumeAttachment(
            f"{name}-data-attachment",
            instance_id=instance.id,
            volume_id=data_volume.id,
            device_name=DATA_DEVICE_NAME,
            stop_instance_before_detaching=True,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        address = aws.ec2.Eip(f"{name}-ip", domain="vpc", instance=instance.id, tags={"Name": label}, opts=child)

        self.ui_url = pulumi.Output.concat("http://", address.public_ip)
        self.admin_email = pulumi.Output.from_input(args.admin_email)
        self.admin_password = pulumi.Output.secret(admin_password)
        self.instance_id = instance.id
        self.data_volume_id = data_volume.id
        self.register_outputs(
            {
                "ui_url": self.ui_url,
                "admin_email": self.admin_email,
                "admin_password": self.admin_password,
                "instance_id": self.instance_id,
                "data_volume_id": self.data_volume_id,
            }
        )
