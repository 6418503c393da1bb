"""Where the UI host lives: the configured VPC and subnet, or the account's default VPC."""

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
    """A public subnet of the VPC."""


def ui_placement(settings: Settings) -> Placement:
    """vpcId/subnetId from the stack, or the default VPC and its first default subnet (looked up once)."""
    if settings.vpc_id:
        return Placement(pulumi.Output.from_input(settings.vpc_id), pulumi.Output.from_input(settings.subnet_id))
    vpc_id = aws.ec2.get_vpc_output(default=True).id
    subnets = aws.ec2.get_subnets_output(
        filters=[
            aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc_id]),
            aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
        ]
    )
    return Placement(vpc_id, subnets.ids.apply(_first_subnet))


def _first_subnet(subnet_ids: list[str]) -> str:
    # Sorted, so the UI host stays in the same subnet from one run to the next.
    if not subnet_ids:
        raise pulumi.RunError(
            "the default VPC has no default subnet for the UI host; set vpcId and subnetId "
            "(`pulumi config set vpcId vpc-…` and `pulumi config set subnetId subnet-…`)."
        )
    return sorted(subnet_ids)[0]
