"""How ModelEndpoint rolls a change out: blue/green updates that fail `pulumi up` when SageMaker rolls back, and
instance-type changes that take the variant out of autoscaling first.

SageMaker updates an endpoint blue/green. When the new variant fails its health check it rolls back to the
old configuration and ends InService, so the provider reports success; the endpoint's `endpoint_config_name`
output then names the old configuration, not the one this run made. `verified_endpoint_name` notices it.

Application Auto Scaling refuses an UpdateEndpoint that changes the instance type of a variant that is a scalable
target ("Update endpoints that use auto scaling", SageMaker developer guide): the target must be deregistered
first and registered again after. `instance_type_marker` gets Pulumi's engine to do exactly that (see there).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_random as random

from components import aws_reads


class EndpointRolledBackError(pulumi.RunError):
    """SageMaker rolled an endpoint update back; the Pulumi CLI prints this message alone, without a traceback."""

    def __init__(self, endpoint_name: str, new_config: str, live_config: str, reason: str | None, log_group: str):
        self.endpoint_name = endpoint_name
        self.reason = reason
        super().__init__(
            f"endpoint {endpoint_name} did not switch to its new configuration {new_config}: SageMaker rolled "
            f"the update back and the endpoint still serves {live_config}. "
            f"FailureReason: {reason or 'not readable here (see the log group)'}. "
            f"The container's logs are in CloudWatch log group {log_group}. Fix the setting that broke the new "
            "model or instance (modelId, instanceType, chatTemplate, maxModelLen, …) and run `pulumi up` again."
        )


def endpoint_failure_reason(endpoint_name: str, region: str, client: Any = None) -> str | None:
    """The endpoint's FailureReason from DescribeEndpoint, or None when there is none or it cannot be read."""
    try:
        client = client or aws_reads.client("sagemaker", region)
        return client.describe_endpoint(EndpointName=endpoint_name).get("FailureReason")
    except aws_reads.READ_ERRORS:
        return None


def verified_endpoint_name(
    endpoint_name: pulumi.Output[str],
    live_config_name: pulumi.Output[str],
    new_config_name: pulumi.Output[str],
    log_group_name: pulumi.Output[str],
    region: str,
) -> pulumi.Output[str]:
    """The endpoint's name, resolved only once the endpoint runs the configuration this run made.

    Raises `EndpointRolledBackError` during `pulumi up` when it runs another one; everything that takes the
    name (the proxy function, the stack output) then waits, so nothing is pointed at a model that isn't live.
    At preview the name is passed through: the live configuration is only known after the update.
    """
    if pulumi.runtime.is_dry_run():
        return endpoint_name

    def check(values: list[str]) -> str:
        name, live, new, log_group = values
        if live != new:
            raise EndpointRolledBackError(name, new, live, endpoint_failure_reason(name, region), log_group)
        return name

    return pulumi.Output.all(endpoint_name, live_config_name, new_config_name, log_group_name).apply(check)


def instance_type_marker(name: str, instance_type: str, parent: pulumi.Resource) -> random.RandomId:
    """A stand-in replaced, delete-before-replace, whenever the instance type changes.

    The endpoint depends on it and the scalable target's `resource_id` takes its id. When the marker is
    replaced delete-before-replace, Pulumi's engine first deletes every resource whose inputs depend on it and
    would be replaced by that (the scaling policy, then the scalable target: `resource_id` forces a new one),
    then the marker, creates the new marker, and only then updates the endpoint, which waits for it; the target
    and policy are created again after the endpoint's update (pulumi/pulumi pkg/resource/deploy/
    step_generator.go, calculateDependentReplacements). That is AWS's deregister → update → register.
    """
    return random.RandomId(
        f"{name}-instance-type",
        byte_length=4,
        keepers={"instanceType": instance_type},
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )
