"""The model as inference components: a base component holding the Model on the endpoint's instances, and one
adapter component per LoRA adapter on it. ModelEndpoint hosts this way with scaleToZero or with adapters.

The endpoint config carries no model, only the instances SageMaker may run (from zero with scale to zero). The base
component asks for `tensorParallelSize` GPUs, which must equal vLLM's tensor-parallel size (AWS, "Inference
component"); an adapter component names the base (BaseInferenceComponentName) and its archive (Container.ArtifactUrl)
and asks for nothing: it runs in the base's copies (SageMaker API reference, InferenceComponentSpecification).
Inference components come from pulumi-aws-native (pulumi-aws has none), through the stack's one explicit provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components import iam, scale_to_zero
from components.instance_gpus import gpus_of
from components.lora_adapters import adapter_component_name, archive_location, component_name_slug
from components.native_provider import aws_native_provider

# A scheduling reservation, not a cap: vLLM still uses the instance's memory. SageMaker refuses a
# copy that reserves more than the instance's schedulable share (measured on ml.g5.xlarge: 1024 MB
# accepted, 4096 MB refused), so reserve little.
MIN_MEMORY_MB = 1024


def base_component_name(endpoint_name: str) -> str:
    """A stable component name (≤ 63 characters): the scaling target and the proxy refer to it."""
    return f"{endpoint_name[:57].rstrip('-')}-model"


class ComponentHosting:
    """The base inference component and its adapters on the endpoint, with its copies' scaling."""

    component_name: pulumi.Output[str]
    """The base component every invocation of the base model names (InferenceComponentName)."""
    adapter_component_names: dict[str, pulumi.Output[str]]
    """Public model name of each adapter → its adapter component."""
    component_arns: list[pulumi.Output[str]]
    """The base's and the adapters' ARNs, which the proxy may invoke."""
    config_needs_role = True
    """The endpoint config holds no model, so it names the execution role itself."""

    def __init__(self, name: str, args: Any, endpoint_name: str, aws_region: str, parent: pulumi.Resource) -> None:
        self._name, self._args, self._parent, self._aws_region = name, args, parent, aws_region
        self._child = pulumi.ResourceOptions(parent=parent)
        self._component_name = base_component_name(endpoint_name)
        self._endpoint_name = endpoint_name
        # Where the base's container writes (not the endpoint's group); created by us so the logs expire.
        self._logs = aws.cloudwatch.LogGroup(
            f"{name}-component-logs",
            name=f"/aws/sagemaker/InferenceComponents/{self._component_name}",
            retention_in_days=args.log_retention_days,
            opts=self._child,
        )

    def role_statements(self, partition: str) -> list[Any]:
        """What the execution role needs besides the endpoint's: the base's logs and each adapter's archive."""
        statements: list[Any] = [
            iam.allow(
                ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [self._logs.arn, pulumi.Output.format("{0}:*", self._logs.arn)],
                sid="WriteComponentLogs",
            )
        ]
        if self._args.adapters:
            archives = [
                f"arn:{partition}:s3:::{bucket}/{key}"
                for bucket, key in map(archive_location, self._args.adapters.values())
            ]
            statements.append(iam.allow("s3:GetObject", archives, sid="ReadLoraAdapters"))
        return statements

    def production_variant(
        self, model: aws.sagemaker.Model, variant: Mapping[str, Any]
    ) -> aws.sagemaker.EndpointConfigurationProductionVariantArgs:
        """A variant with no model: the instances SageMaker may run (from 0 when idle)."""
        args = self._args
        self._variant_name = variant["variant_name"]
        self._startup_timeout = variant["container_startup_health_check_timeout_in_seconds"]
        self._download_timeout = variant["model_data_download_timeout_in_seconds"]
        least = 0 if args.scale_to_zero else args.instance_count
        return aws.sagemaker.EndpointConfigurationProductionVariantArgs(
            **variant,
            initial_instance_count=1 if args.scale_to_zero else args.instance_count,
            managed_instance_scaling=aws.sagemaker.EndpointConfigurationProductionVariantManagedInstanceScalingArgs(
                status="ENABLED", min_instance_count=least, max_instance_count=args.max_instance_count
            ),
            routing_configs=[
                aws.sagemaker.EndpointConfigurationProductionVariantRoutingConfigArgs(
                    routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                )
            ],
        )

    def serve(self, *, endpoint: aws.sagemaker.Endpoint, model: aws.sagemaker.Model, marker: pulumi.Resource) -> None:
        """The base component on the endpoint, its adapters, and its copies' scaling."""
        args, name, parent = self._args, self._name, self._parent
        provider = aws_native_provider(f"{name}-aws-native", aws_region=self._aws_region, parent=parent)
        copies_scale = args.scale_to_zero or args.max_instance_count > args.instance_count
        base = aws_native.sagemaker.InferenceComponent(
            f"{name}-component",
            inference_component_name=self._component_name,
            endpoint_name=endpoint.name,
            variant_name=self._variant_name,
            specification=aws_native.sagemaker.InferenceComponentSpecificationArgs(
                model_name=model.name,
                compute_resource_requirements=aws_native.sagemaker.InferenceComponentComputeResourceRequirementsArgs(
                    # vLLM's tensor-parallel size (SM_VLLM_TENSOR_PARALLEL_SIZE): AWS wants the two equal.
                    number_of_accelerator_devices_required=args.parallel_gpus or gpus_of(args.instance_type),
                    min_memory_required_in_mb=MIN_MEMORY_MB,
                ),
                # As in AWS's scale-to-zero example: the component's timeouts as the variant's.
                startup_parameters=aws_native.sagemaker.InferenceComponentStartupParametersArgs(
                    container_startup_health_check_timeout_in_seconds=self._startup_timeout,
                    model_data_download_timeout_in_seconds=self._download_timeout,
                ),
            ),
            # Always on: a copy on each of instanceCount instances; scaling from zero starts with one.
            runtime_config=aws_native.sagemaker.InferenceComponentRuntimeConfigArgs(
                copy_count=1 if args.scale_to_zero else args.instance_count
            ),
            # Application Auto Scaling owns a scaled copy count after creation; an update must not reset it.
            opts=pulumi.ResourceOptions(
                parent=parent,
                provider=provider,
                depends_on=[self._logs],
                ignore_changes=["runtimeConfig.copyCount"] if copies_scale else None,
            ),
        )
        self.component_name = base.inference_component_name
        self.adapter_component_names = {}
        self.component_arns = [base.inference_component_arn]
        for public_name, archive in args.adapters.items():
            adapter = aws_native.sagemaker.InferenceComponent(
                f"{name}-adapter-{component_name_slug(public_name).lower()}",
                inference_component_name=adapter_component_name(self._endpoint_name, public_name),
                endpoint_name=endpoint.name,
                specification=aws_native.sagemaker.InferenceComponentSpecificationArgs(
                    base_inference_component_name=base.inference_component_name,
                    container=aws_native.sagemaker.InferenceComponentContainerSpecificationArgs(artifact_url=archive),
                ),
                opts=pulumi.ResourceOptions(parent=parent, provider=provider),
            )
            self.adapter_component_names[public_name] = adapter.inference_component_name
            self.component_arns.append(adapter.inference_component_arn)
        if copies_scale:
            self._scale_copies()

    def _scale_copies(self) -> None:
        args, child = self._args, self._child
        least = 0 if args.scale_to_zero else args.instance_count
        target = scale_to_zero.copies_target(
            self._name, self.component_name, min_copies=least, max_copies=args.max_instance_count, opts=child
        )
        # At most one copy: the target only says what idle is, and AWS's 1 means "not one request a minute".
        per_copy = 1.0 if args.max_instance_count == 1 else args.invocations_per_instance_target
        scale_to_zero.copies_follow_invocations(
            self._name,
            target,
            invocations_per_copy=per_copy,
            scale_in_cooldown_seconds=args.idle_minutes * 60 if args.scale_to_zero else 300,
            opts=child,
        )
        if args.scale_to_zero:
            names = [self.component_name, *self.adapter_component_names.values()]
            scale_to_zero.a_request_wakes_a_copy(self._name, target, names, opts=child)
