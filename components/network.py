"""Where the UI host lives: the configured VPC and subnet, or the account's default VPC.

Either way the subnet must sit in an availability zone that offers uiInstanceType (us-east-1e has
no t3, for one): a zone without it is refused at preview, not at `pulumi up`'s RunInstances.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings import Settings


@dataclass(frozen=True)
class Placement:
    """A VPC and a public subnet in it."""

    vpc_id: pulumi.Output[str]
    """The VPC."""
    subnet_id: pulumi.Output[str]
    """A public subnet of the VPC, in a zone that offers the UI's instance type."""


def ui_placement(settings: Settings) -> Placement:
    """vpcId/subnetId from the stack, or the first default subnet of the default VPC whose zone offers the type."""
    instance_type = settings.ui_instance_type
    region = aws.get_region_output().region
    zones = pulumi.Output.all(
        aws.ec2.get_instance_type_offerings_output(
            location_type="availability-zone",
            filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[instance_type])],
        ).locations,
        region,
    ).apply(lambda v: _offering_zones(instance_type, v[0], v[1]))
    if settings.vpc_id:
        subnet = aws.ec2.get_subnet_output(id=settings.subnet_id)
        checked = pulumi.Output.all(subnet.availability_zone, zones).apply(
            lambda v: _configured_subnet(settings.subnet_id, v[0], v[1], instance_type)
        )
        return Placement(pulumi.Output.from_input(settings.vpc_id), checked)
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
