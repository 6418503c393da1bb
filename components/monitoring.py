"""Monitoring: alarms that reach a person, a dashboard of the whole path, and saved queries over the proxy's logs.

The alarm topic is not encrypted with KMS, on purpose. The AWS-managed alias/aws/sns key cannot work (its policy
cannot name cloudwatch.amazonaws.com, so CloudWatch's publishes fail, visibly only in the alarm's history:
https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services). A key of our
own would work, but CI's deploy role would then need rights to manage KMS keys, which it is kept from (the stacks'
secrets keys), and alarm notifications carry no secret: alarm names, states, thresholds. SNS sends them over TLS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.alarms import (
    AlarmSpec,
    ApiMetricSource,
    ModelMetricSource,
    api_alarms,
    model_alarms,
    model_latency_threshold_ms,
    proxy_alarms,
    ui_host_alarms,
)
from components.dashboard import DashboardView, dashboard_body, dashboard_name, dashboard_url
from components.log_queries import QUERIES

if TYPE_CHECKING:
    from components.settings import Settings


@dataclass(frozen=True, kw_only=True)
class MonitoringArgs:
    """What to watch and whom to tell. No defaults for what the stack configures: Pulumi.yaml holds those, and
    `from_settings` reads them."""

    endpoint_name: pulumi.Input[str]
    """The SageMaker endpoint (ModelEndpoint.endpoint_name)."""
    variant_name: str
    """Its production variant (model_endpoint.VARIANT_NAME)."""
    function_name: pulumi.Input[str]
    """The proxy Lambda (ProxyFunction.function_name)."""
    function_log_group_name: pulumi.Input[str]
    """The proxy's log group, which the saved queries read (ProxyFunction.log_group_name)."""
    api: ApiMetricSource
    """The API's kind and metric dimensions (ChatApi.metric_source())."""
    served_model_names: Sequence[pulumi.Input[str]]
    """Every public model id the proxy answers for: the `model` dimension of its metrics."""
    inference_component_name: pulumi.Input[str] | None
    """With component hosting: the base component, whose metrics (with its adapters') replace the variant's."""
    adapter_component_names: Mapping[str, pulumi.Input[str]]
    """Each adapter's component (ModelEndpoint.adapter_component_names): its errors and wake-ups count too."""
    scale_to_zero: bool
    """The model scales to zero (scaleToZero): a request may find no copy, and whether it wakes is watched."""
    ui_instance_id: pulumi.Input[str] | None
    """The UI host (ChatUiHost.instance_id): recovered on a failed system check, rebooted on a failed instance one."""
    reserved_concurrency: int
    """The proxy's reserved concurrency (apiMaxConcurrency); 0: no reserve, no alarm on nearing it."""
    alarm_email: str
    """E-mail address every alarm notifies on ALARM and on OK; empty: the alarms notify nobody."""
    model_latency_p90_ms: int
    """The model's p90 latency above which the latency alarm fires (alarms.model_latency_threshold_ms)."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        endpoint_name: pulumi.Input[str],
        variant_name: str,
        inference_component_name: pulumi.Input[str] | None,
        adapter_component_names: Mapping[str, pulumi.Input[str]],
        served_model_names: Sequence[pulumi.Input[str]],
        function_name: pulumi.Input[str],
        function_log_group_name: pulumi.Input[str],
        api: ApiMetricSource,
        ui_instance_id: pulumi.Input[str] | None,
    ) -> MonitoringArgs:
        """The alarms and dashboard the stack's settings ask for, over the resources these outputs name."""
        return cls(
            endpoint_name=endpoint_name,
            variant_name=variant_name,
            inference_component_name=inference_component_name,
            adapter_component_names=adapter_component_names,
            scale_to_zero=settings.scale_to_zero,
            served_model_names=served_model_names,
            function_name=function_name,
            function_log_group_name=function_log_group_name,
            api=api,
            ui_instance_id=ui_instance_id,
            reserved_concurrency=settings.api_max_concurrency,
            alarm_email=settings.alarm_email,
            model_latency_p90_ms=model_latency_threshold_ms(settings.api_streaming, settings.max_output_tokens),
        )


class Monitoring(pulumi.ComponentResource):
    """The stack's alarms (and their e-mail), its CloudWatch dashboard and its saved Logs Insights queries."""

    dashboard_name: pulumi.Output[str]
    """`<project>-<stack>`."""
    dashboard_url: pulumi.Output[str]
    """The dashboard in the CloudWatch console."""
    alarm_names: pulumi.Output[list[str]]
    """Every alarm's name, all starting with `<project>-<stack>-`."""
    topic_arn: pulumi.Output[str] | None
    """The SNS topic the alarms notify; None without alarm_email."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        partition = aws.get_partition(opts=invoke).partition
        prefix = dashboard_name(pulumi.get_project(), pulumi.get_stack())

        self.topic_arn = self._topic(name, args.alarm_email) if args.alarm_email else None
        notify = [self.topic_arn] if self.topic_arn is not None else []
        components = (
            (args.inference_component_name, *args.adapter_component_names.values())
            if args.inference_component_name is not None
            else ()
        )
        model = ModelMetricSource(args.endpoint_name, args.variant_name, components)
        specs = [
            *model_alarms(model, args.model_latency_p90_ms, args.scale_to_zero),
            *proxy_alarms(args.function_name, args.reserved_concurrency),
            *api_alarms(args.api, model, args.scale_to_zero),
            *(ui_host_alarms(args.ui_instance_id, partition, region) if args.ui_instance_id is not None else []),
        ]
        alarms = [_alarm(name, prefix, spec, notify, child) for spec in specs]
        self.alarm_names = pulumi.Output.all(*[alarm.name for alarm in alarms])

        for title, query in QUERIES.items():
            aws.cloudwatch.QueryDefinition(
                f"{name}-query-{title.replace(' ', '-')}",
                name=f"{prefix}/{title}",  # a folder per stack in the console's saved queries
                query_string=query,
                log_group_names=[args.function_log_group_name],
                opts=child,
            )

        body = pulumi.Output.all(
            endpoint=args.endpoint_name,
            component=args.inference_component_name,
            function=args.function_name,
            api=pulumi.Output.from_input(dict(args.api.dimensions)),
            models=pulumi.Output.all(*args.served_model_names),
            alarms=pulumi.Output.all(*[alarm.arn for alarm in alarms]),
        ).apply(
            lambda v: json.dumps(
                dashboard_body(
                    DashboardView(
                        name=prefix,
                        region=region,
                        endpoint_name=v["endpoint"],
                        variant_name=args.variant_name,
                        component_name=v["component"],
                        function_name=v["function"],
                        reserved_concurrency=args.reserved_concurrency,
                        api_kind=args.api.kind,
                        api_dimensions=v["api"],
                        served_model_names=v["models"],
                        alarm_arns=v["alarms"],
                    )
                )
            )
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=prefix, dashboard_body=body, opts=child
        )
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = dashboard.dashboard_name.apply(lambda dashboard: dashboard_url(region, dashboard))
        outputs: dict[str, Any] = {
            "dashboard_name": self.dashboard_name,
            "dashboard_url": self.dashboard_url,
            "alarm_names": self.alarm_names,
        }
        if self.topic_arn is not None:
            outputs["topic_arn"] = self.topic_arn
        self.register_outputs(outputs)

    def _topic(self, name: str, email: str) -> pulumi.Output[str]:
        """An SNS topic CloudWatch publishes to, with `email` subscribed."""
        child = pulumi.ResourceOptions(parent=self)
        topic = aws.sns.Topic(f"{name}-alarms", opts=child)
        # AWS e-mails the address a link to confirm: nothing arrives before someone follows it.
        aws.sns.TopicSubscription(f"{name}-alarm-email", topic=topic.arn, protocol="email", endpoint=email, opts=child)
        return topic.arn


def _alarm(
    name: str, prefix: str, spec: AlarmSpec, notify: list[pulumi.Output[str]], opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """One CloudWatch alarm from its spec, notifying `notify` on ALARM and on OK."""
    settings: dict[str, Any] = {}
    if spec.expression is None:
        (metric,) = spec.metrics
        percentile = metric.stat.startswith("p")
        settings = {
            "namespace": metric.namespace,
            "metric_name": metric.metric,
            "dimensions": metric.dimensions,
            "period": spec.period,
            "extended_statistic" if percentile else "statistic": metric.stat,
        }
        if percentile:  # a few slow requests in a quiet period say little: keep the alarm's state
            settings["evaluate_low_sample_count_percentiles"] = "ignore"
    else:
        settings["metric_queries"] = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=f"m{index}",
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=metric.namespace,
                    metric_name=metric.metric,
                    dimensions=metric.dimensions,
                    stat=metric.stat,
                    period=spec.period,
                ),
                return_data=False,
            )
            for index, metric in enumerate(spec.metrics)
        ] + [aws.cloudwatch.MetricAlarmMetricQueryArgs(id="e", expression=spec.expression, return_data=True)]
    return aws.cloudwatch.MetricAlarm(
        f"{name}-{spec.slug}",
        name=f"{prefix}-{spec.slug}",
        alarm_description=spec.guide,
        comparison_operator=spec.comparison,
        threshold=spec.threshold,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        treat_missing_data=spec.treat_missing_data,
        alarm_actions=[*spec.instance_actions, *notify],
        ok_actions=list(notify),
        opts=opts,
        **settings,
    )
