"""The model on the endpoint's production variant: SageMaker runs it on every instance of the variant, and the
instances scale with invocations per instance. ModelEndpoint hosts this way without scaleToZero and adapters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

# Seconds between scale-ins of the instances, and after a scale-out before the next.
SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60


class VariantHosting:
    """The Model on the variant, and the variant's instance autoscaling when maxInstanceCount allows it."""

    component_name: None = None
    """No inference component: invocations name only the endpoint."""
    config_needs_role = False
    """The Model on the variant carries the role."""
    adapter_component_names: dict[str, pulumi.Output[str]]
    component_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: Any, parent: pulumi.Resource) -> None:
        self._name, self._args = name, args
        self._child = pulumi.ResourceOptions(parent=parent)
        self.adapter_component_names, self.component_arns = {}, []

    def role_statements(self, partition: str) -> list[Any]:
        """Nothing beyond the endpoint's own statements."""
        return []

    def production_variant(
        self, model: aws.sagemaker.Model, variant: Mapping[str, Any]
    ) -> aws.sagemaker.EndpointConfigurationProductionVariantArgs:
        """The variant with the Model on it, on instanceCount instances."""
        self._variant_name = variant["variant_name"]
        return aws.sagemaker.EndpointConfigurationProductionVariantArgs(
            **variant, model_name=model.name, initial_instance_count=self._args.instance_count
        )

    def serve(self, *, endpoint: aws.sagemaker.Endpoint, model: aws.sagemaker.Model, marker: pulumi.Resource) -> None:
        """The variant's instances scale between instanceCount and maxInstanceCount, when those differ."""
        args, name = self._args, self._name
        if args.max_instance_count <= args.instance_count:
            return
        target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            # The marker's id makes a new instance type replace the target: deregistered before the update.
            resource_id=pulumi.Output.all(endpoint.name, marker.id).apply(
                lambda values: f"endpoint/{values[0]}/variant/{self._variant_name}"
            ),
            min_capacity=args.instance_count,
            max_capacity=args.max_instance_count,
            opts=self._child,
        )
        aws.appautoscaling.Policy(
            f"{name}-scaling-policy",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=args.invocations_per_instance_target,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance",
                ),
                scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            ),
            opts=self._child,
        )
