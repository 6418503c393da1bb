"""ChatUiHost: OpenWebUI on one EC2 host behind CloudFront, wired to the API through its user data.

The host keeps OpenWebUI's data (accounts, chat history) on a separate encrypted EBS volume, so
replacing the instance (a new API URL, a new image) keeps every conversation. Secrets live in
SSM SecureStrings that the host reads at boot with its instance role; the user data, which EC2
keeps in plain text, holds only parameter names. People reach it at an https URL (CloudFront);
the host's port admits CloudFront only, and its reverse proxy only requests with the origin secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.network import ui_placement, ui_security_group
from components.ui_edge import ui_edge
from components.ui_host_role import host_instance_profile
from components.ui_secrets import UiSecrets, ui_secrets
from openwebui.user_data import render_user_data

if TYPE_CHECKING:
    from components.settings import Settings

UI_PORT = 80  # the host's port: nginx, which passes checked requests to the container on 127.0.0.1:8080
DATA_DEVICE_NAME = "/dev/sdf"  # shows as an NVMe device on Nitro; the boot script finds it by volume id
ROOT_VOLUME_GB = 30  # AL2023 plus the OpenWebUI image (several GB)


@dataclass(frozen=True, kw_only=True)
class ChatUiHostArgs:
    """The API the UI talks to, and the host the stack's settings ask for. No defaults for what the stack
    configures: Pulumi.yaml holds those, and `from_settings` reads them."""

    api_url: pulumi.Input[str]
    """OpenAI base URL of the API (ending in /v1): OpenWebUI's OPENAI_API_BASE_URL."""
    api_key_parameter_name: pulumi.Input[str]
    """SSM SecureString holding the API key; the host reads it at boot."""
    api_key_read_statement: pulumi.Input[Mapping[str, Any]]
    """IAM statement allowing ssm:GetParameter on that parameter (from ProxyFunction.read_key_statement())."""
    served_model_name: pulumi.Input[str]
    """The public model id, preselected in a new chat."""
    instance_type: str
    """EC2 instance type of the host (uiInstanceType)."""
    open_web_ui_image: str
    """OpenWebUI's container image, pinned (openWebUiImage)."""
    admin_email: str
    """E-mail of the admin account OpenWebUI creates on its first start (uiAdminEmail)."""
    allowed_cidr: str
    """Who may reach the UI through CloudFront; narrower than 0.0.0.0/0 adds a WAF (uiAllowedCidr)."""
    domain_name: str
    """Custom name of the UI behind CloudFront; "" means the distribution's own (uiDomainName)."""
    certificate_arn: str
    """ACM certificate in us-east-1 for domain_name (uiCertificateArn)."""
    ssh_key_name: str
    """EC2 key pair; SSH stays closed unless this and ssh_allowed_cidr are set (sshKeyName)."""
    ssh_allowed_cidr: str
    """Who may SSH to the host (sshAllowedCidr)."""
    vpc_id: str
    """VPC of the host; "" means the default VPC (vpcId)."""
    subnet_id: str
    """Public subnet of the host, in vpc_id; "" means a default subnet whose zone offers instance_type (subnetId).
    The data volume is created in its availability zone."""
    admin_password: pulumi.Input[str] | None = None
    """Admin password; generated when None."""
    data_volume_gb: int = 20
    """Size of the data volume (OpenWebUI's /app/backend/data)."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        api_url: pulumi.Input[str],
        api_key_parameter_name: pulumi.Input[str],
        api_key_read_statement: pulumi.Input[Mapping[str, Any]],
        served_model_name: pulumi.Input[str],
    ) -> ChatUiHostArgs:
        """The UI host the stack's settings ask for, wired to the API these outputs name."""
        return cls(
            api_url=api_url,
            api_key_parameter_name=api_key_parameter_name,
            api_key_read_statement=api_key_read_statement,
            served_model_name=served_model_name,
            instance_type=settings.ui_instance_type,
            open_web_ui_image=settings.open_web_ui_image,
            admin_email=settings.ui_admin_email,
            allowed_cidr=settings.ui_allowed_cidr,
            domain_name=settings.ui_domain_name,
            certificate_arn=settings.ui_certificate_arn,
            ssh_key_name=settings.ssh_key_name,
            ssh_allowed_cidr=settings.ssh_allowed_cidr,
            vpc_id=settings.vpc_id,
            subnet_id=settings.subnet_id,
        )

    @property
    def ssh_cidr(self) -> str | None:
        """Who may SSH in, when SSH is open (a key pair and a CIDR are both set); None when it is closed."""
        return self.ssh_allowed_cidr if self.ssh_key_name and self.ssh_allowed_cidr else None


def ami_architecture(instance_type: str) -> str:
    """AL2023 image architecture for an instance type: Graviton families (a1, t4g, m7g, c7gn…) are arm64."""
    family = instance_type.split(".", 1)[0]
    return "arm64" if family == "a1" or re.fullmatch(r"[a-z]+\d+g[a-z]*", family) else "x86_64"


def warn_unless_pinned_by_digest(image: str) -> None:
    """A tag can be moved to another image by whoever controls the registry; a digest cannot."""
    if "@sha256:" in image:  # settings checked its form: 64 lowercase hex digits
        return
    pulumi.log.warn(
        f"openWebUiImage {image} is pinned by tag only, and a tag can be moved to another image. Pin its digest "
        f"too (the multi-arch index digest `docker buildx imagetools inspect {image}` prints): "
        f"`pulumi config set openWebUiImage {image}@sha256:<digest>`."
    )


class ChatUiHost(pulumi.ComponentResource):
    """OpenWebUI on EC2 behind CloudFront, signed in as the admin, talking to the API."""

    ui_url: pulumi.Output[str]
    """https://<distribution>.cloudfront.net (or uiDomainName): where a person opens the UI."""
    distribution_domain_name: pulumi.Output[str]
    """The CloudFront distribution's own name: the target of uiDomainName's DNS record."""
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
        warn_unless_pinned_by_digest(args.open_web_ui_image)
        placement = ui_placement(args.vpc_id, args.subnet_id, args.instance_type)

        secrets = ui_secrets(name, args.admin_password, child)
        # The address comes first, on its own: CloudFront's origin is its public DNS name, and the
        # host's user data needs the distribution's URL. An address that outlives the instance breaks the circle.
        address = aws.ec2.Eip(f"{name}-ip", domain="vpc", tags={"Name": label}, opts=child)
        edge = ui_edge(
            name,
            label=label,
            origin_domain_name=address.public_dns,
            origin_port=UI_PORT,
            origin_secret=secrets.origin_secret,
            allowed_cidr=args.allowed_cidr,
            domain_name=args.domain_name,
            certificate_arn=args.certificate_arn,
            parent=self,
        )
        security_group = ui_security_group(name, placement.vpc_id, UI_PORT, args.ssh_cidr, self)
        profile, read_secrets = host_instance_profile(
            name, [secrets.read_statement(), args.api_key_read_statement], self
        )
        data_volume = self._data_volume(name, label, placement.subnet_id, args.data_volume_gb)
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=self._ami(args.instance_type).id,
            instance_type=args.instance_type,
            subnet_id=placement.subnet_id,
            vpc_security_group_ids=[security_group.id],
            iam_instance_profile=profile.name,
            key_name=args.ssh_key_name if args.ssh_cidr else None,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",  # IMDSv2 only
                # One hop: the host's own aws CLI reaches the metadata service, the OpenWebUI container
                # (a hop further) cannot, so nothing in it can take the instance role's credentials.
                "http_put_response_hop_limit": 1,
            },
            root_block_device={"encrypted": True, "volume_type": "gp3", "volume_size": ROOT_VOLUME_GB},
            user_data=self._user_data(args, secrets, data_volume.id, edge.url),
            # A new API URL, image or volume gives a new host; the data volume and the address stay.
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
        aws.ec2.EipAssociation(
            f"{name}-ip-association", allocation_id=address.allocation_id, instance_id=instance.id, opts=child
        )

        self.ui_url = edge.url
        self.distribution_domain_name = edge.distribution_domain_name
        self.admin_email = pulumi.Output.from_input(args.admin_email)
        self.admin_password = pulumi.Output.secret(secrets.admin_password)
        self.instance_id = instance.id
        self.data_volume_id = data_volume.id
        self.register_outputs(
            {
                "ui_url": self.ui_url,
                "distribution_domain_name": self.distribution_domain_name,
                "admin_email": self.admin_email,
                "admin_password": self.admin_password,
                "instance_id": self.instance_id,
                "data_volume_id": self.data_volume_id,
            }
        )

    def _data_volume(self, name: str, label: str, subnet_id: pulumi.Input[str], size_gb: int) -> aws.ebs.Volume:
        """OpenWebUI's data on its own encrypted volume in the subnet's zone, so the instance can come and go."""
        zone = aws.ec2.get_subnet_output(id=subnet_id, opts=pulumi.InvokeOutputOptions(parent=self))
        return aws.ebs.Volume(
            f"{name}-data",
            availability_zone=zone.availability_zone,
            size=size_gb,
            type="gp3",
            encrypted=True,
            tags={"Name": f"{label}-data", "Purpose": "OpenWebUI /app/backend/data"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _ami(self, instance_type: str) -> pulumi.Output[Any]:
        """The latest Amazon Linux 2023 for the instance type's architecture."""
        return aws.ec2.get_ami_output(
            most_recent=True,
            owners=["amazon"],
            filters=[
                {"name": "name", "values": ["al2023-ami-2023.*"]},
                {"name": "architecture", "values": [ami_architecture(instance_type)]},
                {"name": "virtualization-type", "values": ["hvm"]},
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )

    @staticmethod
    def _user_data(
        args: ChatUiHostArgs, secrets: UiSecrets, data_volume_id: pulumi.Output[str], ui_url: pulumi.Output[str]
    ) -> pulumi.Output[str]:
        """The boot script: the stack's values and the parameters' names, no secret."""
        return pulumi.Output.all(
            api_url=args.api_url,
            served_model_name=args.served_model_name,
            ui_url=ui_url,
            data_volume_id=data_volume_id,
            api_key_parameter=args.api_key_parameter_name,
            admin_password_parameter=secrets.admin_password_parameter.name,
            secret_key_parameter=secrets.secret_key_parameter.name,
            origin_secret_parameter=secrets.origin_secret_parameter.name,
        ).apply(
            lambda v: render_user_data(
                image=args.open_web_ui_image,
                data_volume_id=v["data_volume_id"],
                ui_port=UI_PORT,
                stack_env={
                    "OPENAI_API_BASE_URL": v["api_url"],
                    "DEFAULT_MODELS": v["served_model_name"],
                    "WEBUI_ADMIN_EMAIL": args.admin_email,
                    "WEBUI_URL": v["ui_url"],
                },
                secret_parameters={
                    "OPENAI_API_KEY": v["api_key_parameter"],
                    "WEBUI_ADMIN_PASSWORD": v["admin_password_parameter"],
                    "WEBUI_SECRET_KEY": v["secret_key_parameter"],
                },
                origin_secret_parameter=v["origin_secret_parameter"],
            )
        )
