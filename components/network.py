"""Where the UI host lives and who may reach it.

The subnet is the configured one or a default subnet of the default VPC; either way it must sit in
an availability zone that offers uiInstanceType (us-east-1e has no t3, for one): a zone without it
is refused at preview, not at `pulumi up`'s RunInstances. The UI port admits CloudFront's
origin-facing servers only; SSH opens only when a key and a CIDR are both given.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

SSH_PORT = 22
CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"  # AWS-managed prefix list


@dataclass(frozen=True)
class Placement:
    """A VPC and a public subnet in it."""

    vpc_id: pulumi.Output[str]
    """The VPC."""
    subnet_id: pulumi.Output[str]
    """A public subnet of the VPC, in a zone that offers the UI's instance type."""


def ui_placement(vpc_id: str, subnet_id: str, instance_type: str) -> Placement:
    """The configured VPC and subnet (vpcId/subnetId), or, with none, the first default subnet of the default VPC;
    either way in a zone that offers `instance_type`."""
    region = aws.get_region_output().region
    zones = pulumi.Output.all(
        aws.ec2.get_instance_type_offerings_output(
            location_type="availability-zone",
            filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[instance_type])],
        ).locations,
        region,
    ).apply(lambda v: _offering_zones(instance_type, v[0], v[1]))
    if vpc_id:
        subnet = aws.ec2.get_subnet_output(id=subnet_id)
        checked = pulumi.Output.all(subnet.availability_zone, zones).apply(
            lambda v: _configured_subnet(subnet_id, v[0], v[1], instance_type)
        )
        return Placement(pulumi.Output.from_input(vpc_id), checked)
    vpc_id = aws.ec2.get_vpc_output(default=True).id
    subnets = aws.ec2.get_subnets_output(
        filters=[
            aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc_id]),
            aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
            aws.ec2.GetSubnetsFilterArgs(name="availability-zone", values=zones),
        ]
    )
    return Placement(
        vpc_id, pulumi.Output.all(subnets.ids, zones).apply(lambda v: _first_subnet(v[0], v[1], instance_type))
    )


def _offering_zones(instance_type: str, zones: list[str] | None, region: str) -> list[str]:
    if not zones:
        raise pulumi.RunError(
            f"uiInstanceType: {instance_type} is not offered in any availability zone of {region}; choose another "
            f"type (`aws ec2 describe-instance-type-offerings --region {region} --location-type availability-zone "
            "--filters Name=instance-type,Values=<type>` shows where one is)."
        )
    return sorted(zones)


def _configured_subnet(subnet_id: str, zone: str, zones: list[str], instance_type: str) -> str:
    if zone not in zones:
        raise pulumi.RunError(
            f"subnetId: {subnet_id} is in {zone}, which does not offer uiInstanceType {instance_type} "
            f"(offered in {', '.join(zones)}); choose a subnet there, or another uiInstanceType."
        )
    return subnet_id


def _first_subnet(subnet_ids: list[str], zones: list[str], instance_type: str) -> str:
    if not subnet_ids:
        raise pulumi.RunError(
            f"the default VPC has no default subnet in a zone that offers uiInstanceType {instance_type} "
            f"({', '.join(zones)}); set vpcId and subnetId "
            "(`pulumi config set vpcId vpc-…` and `pulumi config set subnetId subnet-…`), or another uiInstanceType."
        )
    # Sorted, so the UI host stays in the same subnet from one run to the next.
    return sorted(subnet_ids)[0]


def ui_security_group(
    name: str, vpc_id: pulumi.Input[str], ui_port: int, ssh_cidr: str | None, parent: pulumi.Resource
) -> aws.ec2.SecurityGroup:
    """The host's security group: the UI port from CloudFront only, SSH from `ssh_cidr` (None: closed), all out."""
    opts = pulumi.ResourceOptions(parent=parent)
    security_group = aws.ec2.SecurityGroup(f"{name}-sg", vpc_id=vpc_id, description="OpenWebUI host", opts=opts)
    # Never 0.0.0.0/0: the UI is reached through CloudFront, whose distribution applies uiAllowedCidr.
    # The prefix list counts as 55 of a security group's 60 rules.
    cloudfront = aws.ec2.get_managed_prefix_list_output(
        name=CLOUDFRONT_ORIGIN_FACING, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-ui-in",
        security_group_id=security_group.id,
        ip_protocol="tcp",
        from_port=ui_port,
        to_port=ui_port,
        prefix_list_id=cloudfront.id,
        description="OpenWebUI's reverse proxy, from CloudFront only",
        opts=opts,
    )
    if ssh_cidr:
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-ssh-in",
            security_group_id=security_group.id,
            ip_protocol="tcp",
            from_port=SSH_PORT,
            to_port=SSH_PORT,
            cidr_ipv4=ssh_cidr,
            description="SSH",
            opts=opts,
        )
    # Out: the image registry, the API, SSM and the OS package mirrors.
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-all-out",
        security_group_id=security_group.id,
        ip_protocol="-1",
        cidr_ipv4="0.0.0.0/0",
        description="image pulls, the API, SSM",
        opts=opts,
    )
    return security_group
