"""Monitoring under mocks: alarms that reach a person, EC2 recovery of the UI host, the dashboard, saved queries."""

from __future__ import annotations

import gzip
import json
import os
from functools import cache

import botocore.session
import moto.ec2
import pytest
import yaml
from botocore.validate import ParamValidator

from components.alarms import API_METRIC_NAMES
from components.dashboard import dashboard_url
from components.log_queries import QUERIES
from components.settings import SettingsError
from tests.components.cloudwatch_metrics import metric_problems
from tests.components.dashboard_spec import dashboard_problems, metrics_of
from tests.pulumi_harness import ROOT
from tests.resource_types import ALARM, KEY

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
QUERY = "aws:cloudwatch/queryDefinition:QueryDefinition"
MONITORING = "sagemaker-llm:index:Monitoring"
EMAIL = "ops@example.com"
HTTP_API_ONLY = {"uiEnabled": False, "modelId": "distilgpt2", "apiStreaming": False, "apiMaxConcurrency": 0}
CONFIGS = {
    "dev with e-mail": ("dev", {"alarmEmail": EMAIL}),
    "prod": ("prod", {}),
    "http api only": (None, HTTP_API_ONLY),
}


@pytest.fixture(params=sorted(CONFIGS))
def run(request, cached_run, stack_config):
    stack, extra = CONFIGS[request.param]
    return cached_run({**(stack_config(stack) if stack else {}), **extra})


@pytest.fixture
def dev(cached_run, stack_config):
    return cached_run({**stack_config("dev"), "alarmEmail": EMAIL})


def alarms(run) -> dict[str, dict]:
    """Our alarms (the Monitoring component's), by name after the stack's prefix."""
    (component,) = run.of_type(MONITORING)
    return {
        a.inputs["name"].removeprefix("sagemaker-llm-test-"): a.inputs
        for a in run.children(component)
        if a.type == ALARM
    }


# -- alarmEmail: a topic CloudWatch can publish to, and every alarm wired to it --------------------------------


def test_an_email_gets_a_topic_cloudwatch_can_publish_to_and_a_subscription(dev):
    topic = dev.one(TOPIC).inputs
    # No KMS key: never alias/aws/sns, whose policy cannot name CloudWatch (its publishes would fail silently);
    # a key of our own would need KMS rights CI's deploy role is kept from (components/monitoring.py).
    assert "kmsMasterKeyId" not in topic
    assert not dev.of_type(KEY)
    subscription = dev.one(SUBSCRIPTION).inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", EMAIL)
    assert subscription["topic"] == dev.one(TOPIC).state["arn"]


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok(dev):
    topic = dev.one(TOPIC).state["arn"]
    found = alarms(dev)
    assert len(found) >= 8
    for name, alarm in found.items():
        assert topic in alarm["alarmActions"], name
        assert alarm["okActions"] == [topic], name


def test_without_an_email_the_alarms_exist_and_notify_nobody(cached_run, stack_config):
    run = cached_run(stack_config("dev"))
    assert not run.of_type(TOPIC) and not run.of_type(SUBSCRIPTION)
    found = alarms(run)
    assert set(found) == set(alarms(cached_run({**stack_config("dev"), "alarmEmail": EMAIL})))
    for name, alarm in found.items():
        assert not alarm.get("okActions"), name
        assert all(":automate:" in action for action in alarm.get("alarmActions", [])), name  # EC2's own only


@pytest.mark.parametrize("email", ["ops", "ops@example", "two@@example.com", "ops@example.com extra"])
def test_an_address_that_is_not_an_email_stops_the_program(run_program, email):
    with pytest.raises(SettingsError, match="alarmEmail"):
        run_program({**HTTP_API_ONLY, "alarmEmail": email})


# -- which alarms, on which metrics ------------------------------------------------------------------------------


def test_a_stack_scaled_to_zero_watches_its_component_and_whether_it_wakes(dev):
    found = alarms(dev)
    assert {"model-5xx", "model-latency-p90", "model-did-not-wake"} <= set(found)
    for name in ("model-5xx", "model-latency-p90", "model-did-not-wake"):
        assert found[name]["dimensions"] == {"InferenceComponentName": "sagemaker-llm-test-model"}, name
    wake = found["model-did-not-wake"]
    assert wake["metricName"] == "NoCapacityInvocationFailures"
    # Failures in every one of four 5-minute periods: still counted 15 minutes after they began.
    assert (wake["period"], wake["evaluationPeriods"], wake["datapointsToAlarm"]) == (300, 4, 4)


def test_an_endpoint_without_components_is_watched_per_endpoint_and_variant(cached_run):
    found = alarms(cached_run(HTTP_API_ONLY))
    assert "model-did-not-wake" not in found
    assert found["model-5xx"]["dimensions"] == {"EndpointName": "sagemaker-llm-test", "VariantName": "AllTraffic"}


ADAPTER_STACK = {
    "uiEnabled": False,
    "modelId": "Qwen/Qwen2.5-14B-Instruct",
    "instanceType": "ml.g5.12xlarge",
    "apiStreaming": False,
    "adapters": {"support": "s3://ft-bucket/adapters/support.tar.gz", "legal": "s3://ft-bucket/adapters/legal.tar.gz"},
}
BASE = "sagemaker-llm-test-model"
COMPONENTS = [BASE, "sagemaker-llm-test-lora-support", "sagemaker-llm-test-lora-legal"]


def _summed(alarm: dict) -> tuple[list[str], list[str], str]:
    """A metric-math alarm's metric names, the components they are counted for, and its expression."""
    queries = alarm["metricQueries"]
    metrics = [q["metric"] for q in queries if "metric" in q]
    (total,) = [q["expression"] for q in queries if q.get("returnData")]
    return [m["metricName"] for m in metrics], [m["dimensions"].get("InferenceComponentName") for m in metrics], total


def test_the_model_alarms_count_every_adapter_too(cached_run):
    found = alarms(cached_run(ADAPTER_STACK))
    names, components, total = _summed(found["model-5xx"])
    assert set(names) == {"Invocation5XXErrors"} and components == COMPONENTS
    assert total == "FILL(m0, 0) + FILL(m1, 0) + FILL(m2, 0)"  # a component nobody called sends no datapoint
    assert found["model-latency-p90"]["dimensions"] == {"InferenceComponentName": BASE}


def test_an_always_on_adapter_stack_is_not_watched_for_waking(cached_run):
    found = alarms(cached_run(ADAPTER_STACK))
    assert "model-did-not-wake" not in found  # its copies never go to zero: no request finds none
    assert found["api-5xx"]["metricName"] == "5xx"  # every 5xx counts
    assert "metricQueries" not in found["api-5xx"]


def test_adapters_scaled_to_zero_are_watched_waking_and_their_waking_answers_are_not_api_errors(cached_run):
    found = alarms(cached_run({**ADAPTER_STACK, "scaleToZero": True}))
    names, components, total = _summed(found["model-did-not-wake"])
    assert set(names) == {"NoCapacityInvocationFailures"} and components == COMPONENTS
    assert total == "FILL(m0, 0) + FILL(m1, 0) + FILL(m2, 0)"
    names, components, total = _summed(found["api-5xx"])
    assert names == ["5xx", *["NoCapacityInvocationFailures"] * 3] and components[1:] == COMPONENTS
    assert total == "FILL(m0, 0) - (FILL(m1, 0) + FILL(m2, 0) + FILL(m3, 0))"


def test_twenty_adapters_scaled_to_zero_fit_cloudwatchs_ten_metrics_an_alarm(cached_run):
    # A metric-math alarm reads at most 10 metrics, a hard limit (CloudWatch's "Alarm limits" page): PutMetricAlarm
    # would refuse an alarm summing 21 components, and the deploy would stop there.
    adapters = {f"ft{index}": f"s3://ft-bucket/adapters/ft{index}.tar.gz" for index in range(20)}
    run = cached_run({**ADAPTER_STACK, "adapters": adapters, "scaleToZero": True})
    every = [a.inputs for a in run.of_type(ALARM)]
    for alarm in every:
        assert len([q for q in alarm.get("metricQueries", []) if "metric" in q]) <= 10, alarm.get("name")
    components = {c.inputs["inferenceComponentName"] for c in run.of_type("aws-native:sagemaker:InferenceComponent")}
    assert len(components) == 21
    found = alarms(run)
    for slug in ("model-5xx", "model-did-not-wake"):
        parts = [found[slug], found[f"{slug}-2"], found[f"{slug}-3"]]
        counted = [component for part in parts for component in _watched(part)]
        assert sorted(counted) == sorted(components), slug  # each component once
    waking = [a for a in every if "NoCapacityInvocationFailures" in json.dumps(a) and "alarmDescription" in a]
    wakes = [a for a in waking if "start one" in a["alarmDescription"]]  # the scale-out alarms of ModelEndpoint
    assert sorted(c for a in wakes for c in _watched(a)) == sorted(components)


def _watched(alarm: dict) -> list[str]:
    if "metricQueries" not in alarm:
        return [alarm["dimensions"]["InferenceComponentName"]]
    return _summed(alarm)[1]


def test_model_latency_is_compared_in_microseconds(cached_run):
    latency = alarms(cached_run(HTTP_API_ONLY))["model-latency-p90"]
    assert (latency["metricName"], latency["extendedStatistic"]) == ("ModelLatency", "p90")
    assert latency["threshold"] == 20_000 * 1000  # 20 s; AWS/SageMaker's ModelLatency unit is microseconds


@pytest.mark.parametrize(("stack", "seconds"), [("dev", 20), ("prod", 2048 * 0.05)])
def test_streamed_answers_may_take_as_long_as_their_longest_at_a_saturated_gpu(
    cached_run, stack_config, stack, seconds
):
    # Buffered answers are cut at 28 s; streamed ones may run minutes: maxOutputTokens at 20 tokens a second.
    config = stack_config(stack)
    assert config.get("sagemaker-llm:apiStreaming", True)
    latency = alarms(cached_run(config))["model-latency-p90"]
    assert latency["threshold"] == seconds * 1_000_000
    assert f"over {seconds:g} s" in latency["alarmDescription"]


def test_the_proxy_s_alarms_treat_missing_data_as_fine(run):
    found = alarms(run)
    for name in ("proxy-errors", "proxy-throttles"):  # Lambda sends no zero values
        assert found[name]["namespace"] == "AWS/Lambda"
        assert found[name]["treatMissingData"] == "notBreaching", name


def test_concurrency_near_the_reserve_is_watched_only_with_a_reserve(cached_run, stack_config):
    with_reserve = alarms(cached_run(stack_config("prod")))["proxy-concurrency"]
    assert (with_reserve["metricName"], with_reserve["statistic"]) == ("ConcurrentExecutions", "Maximum")
    assert with_reserve["threshold"] == 16  # 80 % of the default apiMaxConcurrency (20)
    assert "proxy-concurrency" not in alarms(cached_run(HTTP_API_ONLY))  # apiMaxConcurrency 0


def test_each_kind_of_api_is_watched_by_its_own_metric_name_and_dimensions(cached_run, stack_config):
    http = alarms(cached_run(HTTP_API_ONLY))["api-5xx"]
    assert (http["metricName"], set(http["dimensions"])) == ("5xx", {"ApiId", "Stage"})
    assert http["dimensions"]["Stage"] == "$default"
    rest = cached_run({**HTTP_API_ONLY, "apiStreaming": True})
    metric = alarms(rest)["api-5xx"]
    assert (metric["metricName"], set(metric["dimensions"])) == ("5XXError", {"ApiName", "Stage"})
    (api,) = rest.of_type("aws:apigateway/restApi:RestApi")
    assert metric["dimensions"]["ApiName"] == api.state["name"]  # the name, not the id


def test_a_model_waking_from_zero_is_not_counted_as_api_errors(dev):
    queries = alarms(dev)["api-5xx"]["metricQueries"]
    by_id = {q["id"]: q for q in queries}
    assert by_id["m1"]["metric"]["metricName"] == "NoCapacityInvocationFailures"
    assert by_id["e"]["expression"] == "FILL(m0, 0) - FILL(m1, 0)" and by_id["e"]["returnData"] is True


# -- the UI host: recovered on hardware failure, rebooted on a hung system ----------------------------------------


def test_the_ui_host_is_recovered_by_ec2_and_rebooted_when_it_hangs(dev):
    instance_id = dev.one("aws:ec2/instance:Instance").state["name"]  # the mocks' id is the physical name
    found = alarms(dev)
    system, hung = found["ui-host-system-check"], found["ui-host-instance-check"]
    assert system["metricName"] == "StatusCheckFailed_System"  # the only metric the recover action works with
    assert "arn:aws:automate:us-east-1:ec2:recover" in system["alarmActions"]
    assert hung["metricName"] == "StatusCheckFailed_Instance"
    assert "arn:aws:automate:us-east-1:ec2:reboot" in hung["alarmActions"]
    for alarm in (system, hung):
        assert alarm["dimensions"] == {"InstanceId": instance_id}
        assert alarm["namespace"] == "AWS/EC2"


@cache
def _ec2_instance_types() -> dict:
    """EC2's DescribeInstanceTypes answers as moto records them from AWS (AutoRecoverySupported and all)."""
    path = os.path.join(os.path.dirname(moto.ec2.__file__), "resources", "instance_types.json.gz")
    return json.loads(gzip.open(path).read())


@pytest.mark.parametrize("stack", [None, "dev", "prod"])
def test_the_ui_host_s_type_and_volumes_allow_ec2_recovery(run_program, stack_config, stack):
    # Recovery needs a type with AutoRecoverySupported and EBS volumes only, no instance store:
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/cloudwatch-recovery.html
    default = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["uiInstanceType"]["default"]
    config = stack_config(stack) if stack else {"modelId": "distilgpt2"}
    instance_type = config.get("sagemaker-llm:uiInstanceType", default)
    described = _ec2_instance_types()[instance_type]
    assert described["AutoRecoverySupported"] is True
    assert described["InstanceStorageSupported"] is False
    instance = run_program(config).one("aws:ec2/instance:Instance").inputs
    assert instance["instanceType"] == instance_type
    assert not instance.get("ephemeralBlockDevices")
    assert instance.get("tenancy", "default") == "default"


# -- alarms as AWS's API accepts them ----------------------------------------------------------------------------


def _put_metric_alarm_params(alarm: dict) -> dict:
    names = {
        "name": "AlarmName",
        "okActions": "OKActions",
        "evaluateLowSampleCountPercentiles": "EvaluateLowSampleCountPercentile",  # singular in the API
    }
    params = {names.get(k, k[0].upper() + k[1:]): v for k, v in alarm.items() if k != "metricQueries"}
    if "dimensions" in alarm:
        params["Dimensions"] = [{"Name": k, "Value": v} for k, v in alarm["dimensions"].items()]
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in params:
            params[key] = int(params[key])
    if "metricQueries" in alarm:
        params["Metrics"] = [
            {"Id": q["id"], "ReturnData": q["returnData"]}
            | ({"Expression": q["expression"]} if "expression" in q else {})
            | (
                {
                    "MetricStat": {
                        "Metric": {
                            "Namespace": q["metric"]["namespace"],
                            "MetricName": q["metric"]["metricName"],
                            "Dimensions": [{"Name": k, "Value": v} for k, v in q["metric"]["dimensions"].items()],
                        },
                        "Period": int(q["metric"]["period"]),
                        "Stat": q["metric"]["stat"],
                    }
                }
                if "metric" in q
                else {}
            )
            for q in alarm["metricQueries"]
        ]
    return params


def test_every_alarm_is_one_put_metric_alarm_accepts(run):
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model("PutMetricAlarm").input_shape
    for name, alarm in alarms(run).items():
        params = _put_metric_alarm_params(alarm)
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), (name, report.generate_report())
        assert params["ComparisonOperator"] in model.shape_for("ComparisonOperator").enum
        assert params.get("Statistic", "Sum") in model.shape_for("Statistic").enum
        assert params["TreatMissingData"] in ("breaching", "notBreaching", "ignore", "missing")
        assert params["DatapointsToAlarm"] <= params["EvaluationPeriods"]
        periods = [m["MetricStat"]["Period"] for m in params.get("Metrics", []) if "MetricStat" in m]
        for period in periods or [params["Period"]]:
            assert period in (10, 30) or period % 60 == 0, name


def test_every_metric_an_alarm_reads_is_one_aws_publishes(run):
    for name, alarm in alarms(run).items():
        queries = [q["metric"] for q in alarm.get("metricQueries", []) if "metric" in q] or [alarm]
        for metric in queries:
            assert metric_problems(metric["namespace"], metric["metricName"], metric["dimensions"]) == [], name


# -- the dashboard -----------------------------------------------------------------------------------------------


def test_the_dashboard_is_named_for_the_stack_and_exported_as_its_url(run):
    dashboard = run.one(DASHBOARD).inputs
    assert dashboard["dashboardName"] == "sagemaker-llm-test"
    assert run.outputs["dashboardUrl"] == dashboard_url("us-east-1", "sagemaker-llm-test")
    assert run.outputs["dashboardUrl"].startswith("https://us-east-1.console.aws.amazon.com/cloudwatch/")


def test_the_dashboard_body_has_cloudwatch_s_documented_structure(run):
    dashboard = run.one(DASHBOARD).inputs
    assert dashboard_problems(json.loads(dashboard["dashboardBody"]), dashboard["dashboardName"]) == []


def test_every_charted_metric_is_one_aws_publishes(run):
    body = json.loads(run.one(DASHBOARD).inputs["dashboardBody"])
    charted = list(metrics_of(body))
    assert len(charted) > 20
    for namespace, metric, dimensions in charted:
        assert metric_problems(namespace, metric, dimensions) == []


def test_the_dashboard_charts_what_the_issue_lists(dev):
    body = json.loads(dev.one(DASHBOARD).inputs["dashboardBody"])
    titles = " | ".join(w["properties"].get("title", "") for w in body["widgets"])
    for words in (
        "Requests and errors by status",
        "API latency p50/p90/p99",
        "Proxy latency p50/p90/p99",
        "Model latency p50/p90/p99",
        "Time to first token",
        "Tokens per minute in and out, per model",
        "copies and instances",
        "GPU utilisation and GPU memory",
        "concurrency against its reserve, and throttles",
        "Alarms",
    ):
        assert words in titles, words
    charted = {(ns, m) for ns, m, _ in metrics_of(body)}
    assert {("SageMakerLLM/Proxy", "prompt_tokens"), ("SageMakerLLM/Proxy", "completion_tokens")} <= charted
    assert {("AWS/SageMaker", "InvocationsPerCopy"), ("/aws/sagemaker/Endpoints", "GPUUtilization")} <= charted
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == len(alarms(dev))
    (concurrency,) = [w for w in body["widgets"] if "concurrency" in w["properties"].get("title", "")]
    assert concurrency["properties"]["annotations"]["horizontal"][0]["value"] == 20  # the reserve


def test_the_api_graphs_use_the_names_of_the_api_s_kind(cached_run):
    body = json.loads(cached_run(HTTP_API_ONLY).one(DASHBOARD).inputs["dashboardBody"])
    api_metrics = {m for ns, m, _ in metrics_of(body) if ns == "AWS/ApiGateway"}
    assert api_metrics == set(API_METRIC_NAMES["http"].values())


# -- saved Logs Insights queries ---------------------------------------------------------------------------------


def test_the_saved_queries_read_the_proxy_s_log_group(run):
    (component,) = run.of_type(MONITORING)
    queries = [q.inputs for q in run.children(component) if q.type == QUERY]
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "proxy-logs").state["name"]
    assert {q["name"].split("/", 1)[1] for q in queries} == set(QUERIES)
    for query in queries:
        assert query["logGroupNames"] == [log_group]
        assert query["name"].startswith("sagemaker-llm-test/")


# -- what a person reads -------------------------------------------------------------------------------------------


def test_the_operations_doc_says_what_each_alarm_means_and_to_confirm_the_email(dev):
    text = (ROOT / "docs" / "operations.md").read_text()
    for name in alarms(dev):
        assert f"| `{name}` |" in text, name
    assert "confirm the subscription" in text.lower()


def test_the_proxy_s_metrics_need_no_permission_beyond_its_log_group(dev):
    policy = json.loads(dev.one("aws:iam/rolePolicy:RolePolicy", "proxy-role-policy").inputs["policy"])
    actions = [a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if a.startswith("cloudwatch:")]
