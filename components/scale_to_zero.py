"""Scale to zero: the model as a SageMaker inference component whose copies, and so the endpoint's
instances, drop to zero when idle and come back on the first request.

SageMaker scales an endpoint to zero instances only when it hosts inference components and its
variant has ManagedInstanceScaling.MinInstanceCount = 0 (AWS, "Scale an endpoint to zero instances").
Four pieces do it: the endpoint config below, the component, a target-tracking policy on invocations
per copy that scales in to zero, and a step policy on the NoCapacityInvocationFailures alarm (SageMaker
emits it for a request that finds no copy). Without the last one the endpoint scales to zero once and
never answers again.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native

from components.instance_gpus import gpus_of
from components.native_provider import aws_native_provider

# A scheduling reservation, not a cap: vLLM still uses the instance's memory. SageMaker refuses a
# copy that reserves more than the instance's schedulable share (measured on ml.g5.xlarge: 1024 MB
# accepted, 4096 MB refused), so reserve little.
MIN_MEMORY_MB = 1024
COPY_METRIC_PERIOD_SECONDS = 60
SCALE_OUT_COOLDOWN_SECONDS = 60


def component_name_for(endpoint_name: str) -> str:
    """A stable component name (≤ 63 characters): the scaling target and the proxy refer to it."""
    return f"{endpoint_name[:57].rstrip('-')}-model"


def component_log_group(
    name: str, component_name: str, retention_days: int, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.LogGroup:
    """Where the component's container writes (not the endpoint's group); created by us so the logs expire."""
    return aws.cloudwatch.LogGroup(
        f"{name}-component-logs",
        name=f"/aws/sagemaker/InferenceComponents/{component_name}",
        retention_in_days=retention_days,
        opts=opts,
    )


def log_statements(log_group: aws.cloudwatch.LogGroup | None) -> list[dict[str, Any]]:
    """The execution role's permission to write the component's logs; none without a component."""
    if log_group is None:
        return []
    return [
        {
            "Sid": "WriteComponentLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": [log_group.arn, pulumi.Output.format("{0}:*", log_group.arn)],
        }
    ]


def endpoint_config(
    name: str,
    *,
    instance_type: str,
    max_instance_count: int,
    role_arn: pulumi.Input[str],
    inference_ami_version: pulumi.Input[str],
    startup_timeout_seconds: int,
    model_data_download_timeout_seconds: int | None,
    opts: pulumi.ResourceOptions,
) -> aws.sagemaker.EndpointConfiguration:
    """An endpoint config with no model on its variant: the instances SageMaker may run, from 0 up."""
    variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
        variant_name="AllTraffic",
        instance_type=instance_type,
        initial_instance_count=1,
        # As in AWS's scale-to-zero example: the variant's timeouts too, not only the component's.
        container_startup_health_check_timeout_in_seconds=startup_timeout_seconds,
        model_data_download_timeout_in_seconds=model_data_download_timeout_seconds,
        managed_instance_scaling=aws.sagemaker.EndpointConfigurationProductionVariantManagedInstanceScalingArgs(
            status="ENABLED", min_instance_count=0, max_instance_count=max_instance_count
        ),
        routing_configs=[
            aws.sagemaker.EndpointConfigurationProductionVariantRoutingConfigArgs(
                routing_strategy="LEAST_OUTSTANDING_REQUESTS"
            )
        ],
        inference_ami_version=inference_ami_version,
    )
    # Auto-named like the model-based config: a changed instance type is a new config the endpoint switches to.
    return aws.sagemaker.EndpointConfiguration(
        name, execution_role_arn=role_arn, production_variants=[variant], opts=opts
    )


class ScalingComponent:
    """The inference component serving the endpoint's Model, with its logs and its scaling to and from zero."""

    component: aws_native.sagemaker.InferenceComponent
    provider: aws_native.Provider
    """The aws-native provider every aws-native resource of the stack is created with."""
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        component_name: str,
        endpoint: aws.sagemaker.Endpoint,
        model_name: pulumi.Input[str],
        log_group: aws.cloudwatch.LogGroup,
        instance_type: str,
        max_instance_count: int,
        idle_minutes: int,
        startup_timeout_seconds: int,
        model_data_download_timeout_seconds: int | None,
        invocations_per_copy_target: float,
        aws_region: str,
        parent: pulumi.Resource,
    ) -> None:
        child = pulumi.ResourceOptions(parent=parent)
        gpus = gpus_of(instance_type)
        self.provider = aws_native_provider(f"{name}-aws-native", aws_region=aws_region, parent=parent)
        self.component = aws_native.sagemaker.InferenceComponent(
            f"{name}-component",
            inference_component_name=component_name,
            endpoint_name=endpoint.name,
            variant_name="AllTraffic",
            specification=aws_native.sagemaker.InferenceComponentSpecificationArgs(
                model_name=model_name,
                compute_resource_requirements=aws_native.sagemaker.InferenceComponentComputeResourceRequirementsArgs(
                    number_of_accelerator_devices_required=gpus, min_memory_required_in_mb=MIN_MEMORY_MB
                ),
                startup_parameters=aws_native.sagemaker.InferenceComponentStartupParametersArgs(
                    container_startup_health_check_timeout_in_seconds=startup_timeout_seconds,
                    model_data_download_timeout_in_seconds=model_data_download_timeout_seconds,
                ),
            ),
            runtime_config=aws_native.sagemaker.InferenceComponentRuntimeConfigArgs(copy_count=1),
            # Application Auto Scaling owns the copy count after creation; an update must not reset it.
            opts=pulumi.ResourceOptions(
                parent=parent,
                provider=self.provider,
                depends_on=[log_group],
                ignore_changes=["runtimeConfig.copyCount"],
            ),
        )
        self.name = self.component.inference_component_name
        self.arn = self.component.inference_component_arn

        target = aws.appautoscaling.Target(
            f"{name}-copies",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
            resource_id=pulumi.Output.format("inference-component/{0}", self.name),
            min_capacity=0,
            max_capacity=max_instance_count,
            opts=child,
        )
        on_target: dict[str, Any] = {
            "service_namespace": target.service_namespace,
            "scalable_dimension": target.scalable_dimension,
            "resource_id": target.resource_id,
        }
        dimensions = {"InferenceComponentName": self.name}

        # AWS's documented pair: this scales in, to zero; the step policy below scales out from zero
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html).
        # Idleness is Application Auto Scaling's own scale-in alarm (15 one-minute datapoints under 90 % of the
        # target); ScaleInCooldown only spaces later scale-ins, and a scale-out ends it
        # (https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html).
        aws.appautoscaling.Policy(
            f"{name}-copies-follow-invocations",
            policy_type="TargetTrackingScaling",
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                # At most one copy: the target only says what idle is, and AWS's 1 means "not one request a minute".
                target_value=1.0 if max_instance_count == 1 else invocations_per_copy_target,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="SageMakerInferenceComponentInvocationsPerCopy",
                ),
                scale_in_cooldown=idle_minutes * 60,
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            ),
            opts=child,
            **on_target,
        )

        # Exactly one copy, not one more (AWS's example adds one): requests keep failing, and the alarm firing,
        # while it starts.
        scale_out = aws.appautoscaling.Policy(
            f"{name}-scale-out-from-zero",
            policy_type="StepScaling",
            step_scaling_policy_configuration=aws.appautoscaling.PolicyStepScalingPolicyConfigurationArgs(
                adjustment_type="ExactCapacity",
                metric_aggregation_type="Maximum",
                cooldown=SCALE_OUT_COOLDOWN_SECONDS,
                step_adjustments=[
                    aws.appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs(
                        metric_interval_lower_bound="0", scaling_adjustment=1
                    )
                ],
            ),
            opts=child,
            **on_target,
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-no-capacity",
            alarm_description=pulumi.Output.format("{0}: a request found no copy of the model; start one.", self.name),
            namespace="AWS/SageMaker",
            metric_name="NoCapacityInvocationFailures",
            dimensions=dimensions,
            statistic="Sum",
            period=COPY_METRIC_PERIOD_SECONDS,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",  # AWS's example (> 1) misses a lone request
            treat_missing_data="notBreaching",
            alarm_actions=[scale_out.arn],
            opts=child,
        )
