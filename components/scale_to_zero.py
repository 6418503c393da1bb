"""Scaling an inference component's copies, in named steps: the copies as a scalable target, copies that follow
the invocations (down to zero when idle), and a request that finds no copy waking one.

SageMaker scales an endpoint to zero instances only when it hosts inference components and its variant has
ManagedInstanceScaling.MinInstanceCount = 0 (AWS, "Scale an endpoint to zero instances"); with a minimum of
zero copies, the scale-in of `copies_follow_invocations` takes the model to zero and `a_request_wakes_a_copy`
brings it back. Without the last step the endpoint scales to zero once and never answers again.
These are steps, not a component: each creates Application Auto Scaling and CloudWatch resources as children of
the ComponentResource that calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import MAX_ALARM_METRICS, sum_expression

COPY_METRIC_PERIOD_SECONDS = 60
SCALE_OUT_COOLDOWN_SECONDS = 60


def copies_target(
    name: str, component_name: pulumi.Input[str], *, min_copies: int, max_copies: int, opts: pulumi.ResourceOptions
) -> aws.appautoscaling.Target:
    """The component's copy count as an Application Auto Scaling target, between `min_copies` and `max_copies`."""
    return aws.appautoscaling.Target(
        f"{name}-copies",
        service_namespace="sagemaker",
        scalable_dimension="sagemaker:inference-component:DesiredCopyCount",
        resource_id=pulumi.Output.format("inference-component/{0}", component_name),
        min_capacity=min_copies,
        max_capacity=max_copies,
        opts=opts,
    )


def _on(target: aws.appautoscaling.Target) -> dict[str, Any]:
    return {
        "service_namespace": target.service_namespace,
        "scalable_dimension": target.scalable_dimension,
        "resource_id": target.resource_id,
    }


def copies_follow_invocations(
    name: str,
    target: aws.appautoscaling.Target,
    *,
    invocations_per_copy: float,
    scale_in_cooldown_seconds: int,
    opts: pulumi.ResourceOptions,
) -> aws.appautoscaling.Policy:
    """Target tracking on invocations per copy: more copies under load, fewer (down to the target's minimum,
    zero with scale to zero) when idle.

    AWS's documented scale-in for scale to zero
    (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-zero-instances.html). Idleness is
    Application Auto Scaling's own scale-in alarm (15 one-minute datapoints under 90 % of the target);
    ScaleInCooldown only spaces later scale-ins, and a scale-out ends it
    (https://docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html).
    """
    return aws.appautoscaling.Policy(
        f"{name}-copies-follow-invocations",
        policy_type="TargetTrackingScaling",
        target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
            target_value=invocations_per_copy,
            predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type="SageMakerInferenceComponentInvocationsPerCopy",
            ),
            scale_in_cooldown=scale_in_cooldown_seconds,
            scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
        ),
        opts=opts,
        **_on(target),
    )


def a_request_wakes_a_copy(
    name: str,
    target: aws.appautoscaling.Target,
    component_names: Sequence[pulumi.Input[str]],
    *,
    opts: pulumi.ResourceOptions,
) -> list[aws.cloudwatch.MetricAlarm]:
    """One copy when a request to any of `component_names` (the base and its adapters) found none.

    SageMaker counts NoCapacityInvocationFailures for every request that finds no copy, by the component
    invoked; an adapter has no copies of its own, so a request to one must wake the base too. An alarm reads at
    most ten metrics (alarms.MAX_ALARM_METRICS): each ten components get an alarm of their own.
    """
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
        opts=opts,
        **_on(target),
    )
    base = component_names[0]
    alarm: dict[str, Any] = {
        "alarm_description": pulumi.Output.format("{0}: a request found no copy of the model; start one.", base),
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "threshold": 1,
        "comparison_operator": "GreaterThanOrEqualToThreshold",  # AWS's example (> 1) misses a lone request
        "treat_missing_data": "notBreaching",
        "alarm_actions": [scale_out.arn],
    }
    chunks = [
        component_names[start : start + MAX_ALARM_METRICS]
        for start in range(0, len(component_names), MAX_ALARM_METRICS)
    ]
    return [
        aws.cloudwatch.MetricAlarm(
            f"{name}-no-capacity" if number == 1 else f"{name}-no-capacity-{number}",
            opts=opts,
            **alarm,
            **(
                _no_capacity_metric(chunk[0])
                if len(chunk) == 1
                else {"metric_queries": _no_capacity_of_every_component(chunk)}
            ),
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


def _no_capacity_metric(component_name: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "namespace": "AWS/SageMaker",
        "metric_name": "NoCapacityInvocationFailures",
        "dimensions": {"InferenceComponentName": component_name},
        "statistic": "Sum",
        "period": COPY_METRIC_PERIOD_SECONDS,
    }


def _no_capacity_of_every_component(
    component_names: Sequence[pulumi.Input[str]],
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    metrics = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=f"m{index}",
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/SageMaker",
                metric_name="NoCapacityInvocationFailures",
                dimensions={"InferenceComponentName": component_name},
                stat="Sum",
                period=COPY_METRIC_PERIOD_SECONDS,
            ),
        )
        for index, component_name in enumerate(component_names)
    ]
    total = sum_expression(range(len(component_names)))
    return [
        *metrics,
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="requests_without_a_copy", expression=total, label="NoCapacityInvocationFailures", return_data=True
        ),
    ]
