"""Where the UI host goes: a subnet in an availability zone that offers uiInstanceType, or a clear error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
import pytest

from tests.pulumi_harness import PROJECT, PulumiMocks

# The default VPC's default subnets; us-east-1e has no t3 (the zone a first deploy tripped on).
DEFAULT_SUBNETS = {
    "subnet-0aaaaaaaaaaaaaaaa": "us-east-1e",
    "subnet-0bbbbbbbbbbbbbbbb": "us-east-1b",
    "subnet-0cccccccccccccccc": "us-east-1a",
}
CONFIGURED_SUBNET = "subnet-0eeeeeeeeeeeeeeee"


def answering(pulumi_mocks: PulumiMocks, offered: list[str], configured_zone: str = "us-east-1a") -> None:
    """Mocks where `offered` are the zones with the type, and getSubnets honours its zone filter as EC2 does."""
    answer = pulumi_mocks.mocks.call

    def call(args) -> Mapping[str, Any]:
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            pulumi_mocks.mocks.calls.append(args)
            return {"id": "us-east-1", "locations": offered, "locationTypes": [], "instanceTypes": []}
        if args.token == "aws:ec2/getSubnets:getSubnets":
            pulumi_mocks.mocks.calls.append(args)
            zones = next(f["values"] for f in args.args["filters"] if f["name"] == "availability-zone")
            return {"id": "us-east-1", "ids": [s for s, zone in DEFAULT_SUBNETS.items() if zone in zones]}
        if args.token == "aws:ec2/getSubnet:getSubnet" and args.args.get("id") == CONFIGURED_SUBNET:
            pulumi_mocks.mocks.calls.append(args)
            return {"id": CONFIGURED_SUBNET, "availabilityZone": configured_zone, "vpcId": "vpc-0a1b2c3d4e5f60718"}
        return answer(args)

    pulumi_mocks.mocks.call = call


def place(pulumi_mocks: PulumiMocks, config: dict | None = None) -> Callable[[], str]:
    """The subnet ui_placement picks for `config` (a function, so a test can expect it to raise)."""
    from components.network import ui_placement
    from components.settings import load_settings

    pulumi_mocks.configure({"modelId": "distilgpt2", **(config or {})})
    chosen: dict[str, str] = {}

    @pulumi.runtime.test
    def build():
        settings = load_settings()
        placement = ui_placement(settings.vpc_id, settings.subnet_id, settings.ui_instance_type)
        return placement.subnet_id.apply(lambda s: chosen.update(subnet=s))

    def run() -> str:
        build()
        return chosen["subnet"]

    return run


def test_the_ui_subnet_is_in_a_zone_that_offers_the_instance_type(pulumi_mocks):
    answering(pulumi_mocks, offered=["us-east-1a", "us-east-1b", "us-east-1c"])

    subnet = place(pulumi_mocks)()

    # Not sorted(ids)[0] (subnet-0aaa…, in us-east-1e): the first of those that can run a t3.
    assert subnet == "subnet-0bbbbbbbbbbbbbbbb"
    (offerings,) = [c for c in pulumi_mocks.mocks.calls if c.token.endswith("getInstanceTypeOfferings")]
    assert offerings.args["locationType"] == "availability-zone"
    assert offerings.args["filters"] == [{"name": "instance-type", "values": ["t3.small"]}]


def test_the_configured_instance_type_is_the_one_looked_up(pulumi_mocks):
    answering(pulumi_mocks, offered=["us-east-1e"])

    assert place(pulumi_mocks, {"uiInstanceType": "m7g.large"})() == "subnet-0aaaaaaaaaaaaaaaa"
    (offerings,) = [c for c in pulumi_mocks.mocks.calls if c.token.endswith("getInstanceTypeOfferings")]
    assert offerings.args["filters"][0]["values"] == ["m7g.large"]


def test_a_type_no_zone_offers_is_refused_at_preview(pulumi_mocks):
    answering(pulumi_mocks, offered=[])
    pulumi.runtime.set_mocks(
        pulumi_mocks.mocks, project=PROJECT, stack="test", preview=True, monitor=pulumi_mocks.monitor
    )

    with pytest.raises(
        Exception, match=r"uiInstanceType: t3.small is not offered in any availability zone of us-east-1"
    ):
        place(pulumi_mocks)()
    assert not any(c.token.endswith("getSubnets:getSubnets") for c in pulumi_mocks.mocks.calls)


def test_a_default_vpc_without_a_subnet_in_an_offering_zone_says_what_to_set(pulumi_mocks):
    answering(pulumi_mocks, offered=["us-east-1d"])

    with pytest.raises(
        Exception, match=r"no default subnet in a zone that offers uiInstanceType t3.small \(us-east-1d\)"
    ):
        place(pulumi_mocks)()


def test_a_configured_subnet_in_a_zone_without_the_type_is_refused(pulumi_mocks):
    answering(pulumi_mocks, offered=["us-east-1a", "us-east-1b"], configured_zone="us-east-1e")
    config = {"vpcId": "vpc-0a1b2c3d4e5f60718", "subnetId": CONFIGURED_SUBNET}

    with pytest.raises(Exception, match=rf"subnetId: {CONFIGURED_SUBNET} is in us-east-1e, which does not offer"):
        place(pulumi_mocks, config)()


def test_a_configured_subnet_in_an_offering_zone_is_kept(pulumi_mocks):
    answering(pulumi_mocks, offered=["us-east-1a", "us-east-1b"], configured_zone="us-east-1b")
    config = {"vpcId": "vpc-0a1b2c3d4e5f60718", "subnetId": CONFIGURED_SUBNET}

    assert place(pulumi_mocks, config)() == CONFIGURED_SUBNET
