"""scaleToZero: the model as an inference component whose copies scale to zero when idle and back on a request."""

import json

import pytest

from components.component_hosting import base_component_name
from components.config_checks import validate
from components.instance_gpus import GPUS_BY_INSTANCE_TYPE, gpus_of
from components.settings import project_schema
from tests.resource_types import ALARM, COMPONENT, CONFIG, ENDPOINT, FUNCTION, MODEL, POLICY, ROLE_POLICY, TARGET

SCALE_TO_ZERO = {"uiEnabled": False, "modelId": "distilgpt2", "scaleToZero": True, "idleMinutes": 20}


@pytest.fixture
def run(cached_run):
    return cached_run(SCALE_TO_ZERO)


def _by_suffix(resources, suffix):
    (found,) = [r for r in resources if r.name.endswith(suffix)]
    return found


def test_the_endpoint_config_has_no_model_and_may_scale_its_instances_to_zero(run):
    config = run.one(CONFIG).inputs
    (variant,) = config["productionVariants"]
    assert "modelName" not in variant
    assert config["executionRoleArn"] == run.one("aws:iam/role:Role", "model-role").state["arn"]
    assert variant["managedInstanceScaling"] == {"status": "ENABLED", "minInstanceCount": 0, "maxInstanceCount": 1}
    assert variant["instanceType"] == "ml.g4dn.xlarge"
    assert variant["routingConfigs"] == [{"routingStrategy": "LEAST_OUTSTANDING_REQUESTS"}]
    assert variant["inferenceAmiVersion"]  # the CUDA 13 DLC still needs its host AMI
    assert run.one(ENDPOINT).inputs["endpointConfigName"] == run.one(CONFIG).state["name"]


def test_the_component_serves_the_model_on_the_endpoint_with_the_instance_s_gpus(run):
    component = run.one(COMPONENT).inputs
    endpoint_name = run.one(ENDPOINT).state["name"]
    assert component["endpointName"] == endpoint_name
    assert component["inferenceComponentName"] == base_component_name(endpoint_name)
    assert component["variantName"] == "AllTraffic"
    spec = component["specification"]
    assert spec["modelName"] == run.one(MODEL).state["name"]
    assert spec["computeResourceRequirements"]["numberOfAcceleratorDevicesRequired"] == 1
    assert spec["computeResourceRequirements"]["minMemoryRequiredInMb"] > 0
    assert spec["startupParameters"]["containerStartupHealthCheckTimeoutInSeconds"] >= 900
    assert component["runtimeConfig"] == {"copyCount": 1}


def test_copies_scale_between_zero_and_the_instance_maximum(cached_run):
    run = cached_run({**SCALE_TO_ZERO, "maxInstanceCount": 3})
    (target,) = run.of_type(TARGET)
    name = run.one(COMPONENT).inputs["inferenceComponentName"]
    assert target.inputs["serviceNamespace"] == "sagemaker"
    assert target.inputs["scalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert target.inputs["resourceId"] == f"inference-component/{name}"
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (0, 3)
    (variant,) = run.one(CONFIG).inputs["productionVariants"]
    assert variant["managedInstanceScaling"]["maxInstanceCount"] == 3


def _model_alarms(run):
    return [r for r in run.children(run.one("sagemaker-llm:index:ModelEndpoint")) if r.type == ALARM]


def _tracking(run):
    (policy,) = [p for p in run.of_type(POLICY) if p.inputs["policyType"] == "TargetTrackingScaling"]
    return policy


def test_idle_copies_scale_in_to_zero_by_aws_s_target_tracking_on_invocations_per_copy(run):
    # AWS's documented scale-in: target tracking on SageMakerInferenceComponentInvocationsPerCopy, the scalable
    # target's minimum 0; no alarm of ours decides that the model is idle.
    policy = _tracking(run)
    assert policy.inputs["resourceId"] == run.one(TARGET).inputs["resourceId"]
    assert run.one(TARGET).inputs["minCapacity"] == 0
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["predefinedMetricSpecification"] == {
        "predefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"
    }
    assert config["targetValue"] == 1  # one copy at most: idle is "not one request a minute", as AWS's example
    assert not config.get("disableScaleIn", False)
    assert config["scaleInCooldown"] == 20 * 60  # idleMinutes
    alarms = [a.inputs for a in _model_alarms(run)]  # the stack's monitoring has alarms of its own
    assert [a["metricName"] for a in alarms] == ["NoCapacityInvocationFailures"]
    assert all(a.get("treatMissingData") != "breaching" for a in alarms)  # no datapoint is never a reason to act


def test_more_copies_follow_the_load_and_go_again_by_the_same_policy(cached_run):
    run = cached_run({**SCALE_TO_ZERO, "maxInstanceCount": 3})
    config = _tracking(run).inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["targetValue"] == 30  # invocations a minute one copy of an LLM answers
    assert not config.get("disableScaleIn", False)
    assert config["scaleInCooldown"] == 20 * 60


def test_a_request_that_finds_no_copy_starts_one(run):
    policy = _by_suffix(run.of_type(POLICY), "scale-out-from-zero")
    step = policy.inputs["stepScalingPolicyConfiguration"]
    assert step["stepAdjustments"] == [{"metricIntervalLowerBound": "0", "scalingAdjustment": 1}]
    assert step["adjustmentType"] == "ExactCapacity"
    assert policy.inputs["resourceId"] == run.one(TARGET).inputs["resourceId"]
    alarm = _by_suffix(run.of_type(ALARM), "no-capacity").inputs
    assert alarm["namespace"] == "AWS/SageMaker"
    assert alarm["metricName"] == "NoCapacityInvocationFailures"
    assert alarm["dimensions"] == {"InferenceComponentName": run.one(COMPONENT).inputs["inferenceComponentName"]}
    assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold" and alarm["threshold"] == 1
    assert alarm["alarmActions"] == [policy.state["arn"]]


def test_the_proxy_invokes_the_component_and_may_invoke_nothing_else(run):
    component = run.one(COMPONENT)
    variables = run.one(FUNCTION).inputs["environment"]["variables"]
    assert variables["INFERENCE_COMPONENT_NAME"] == component.inputs["inferenceComponentName"]
    assert variables["SAGEMAKER_ENDPOINT_NAME"] == run.one(ENDPOINT).state["name"]
    role = run.one("aws:iam/role:Role", "proxy-role")
    (policy,) = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == role.state["name"]]
    invoke = [s for s in json.loads(policy.inputs["policy"])["Statement"] if "sagemaker:InvokeEndpoint" in s["Action"]]
    assert invoke == [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
            "Resource": [run.one(ENDPOINT).state["arn"], component.state["inferenceComponentArn"]],
        }
    ]


def test_the_component_writes_its_logs_to_its_own_expiring_group(run):
    name = run.one(COMPONENT).inputs["inferenceComponentName"]
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "model-component-logs")
    assert group.inputs["name"] == f"/aws/sagemaker/InferenceComponents/{name}"
    assert group.inputs["retentionInDays"] > 0
    role = run.one("aws:iam/role:Role", "model-role")
    (policy,) = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == role.state["name"]]
    statements = {s.get("Sid"): s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert statements["WriteComponentLogs"]["Resource"] == [group.state["arn"], f"{group.state['arn']}:*"]


def test_a_later_pulumi_up_leaves_the_copy_count_to_autoscaling(run):
    # Otherwise every `pulumi up` on an idle stack would set it back to 1 copy and pay for a GPU instance.
    assert run.one(COMPONENT).ignore_changes == ("runtimeConfig.copyCount",)


def test_a_new_model_or_instance_type_keeps_the_endpoint_and_component_names(cached_run):
    before = cached_run(SCALE_TO_ZERO)
    after = cached_run({**SCALE_TO_ZERO, "modelId": "gpt2", "instanceType": "ml.g5.xlarge"})
    assert after.one(ENDPOINT).inputs["name"] == before.one(ENDPOINT).inputs["name"]
    assert (
        after.one(COMPONENT).inputs["inferenceComponentName"] == before.one(COMPONENT).inputs["inferenceComponentName"]
    )
    # The Model and the config are auto-named: a change is a new one the component and endpoint switch to.
    assert "name" not in after.one(MODEL).inputs and "name" not in after.one(CONFIG).inputs


def test_without_scale_to_zero_the_endpoint_has_its_model_on_the_variant_and_no_component(cached_run):
    run = cached_run({"uiEnabled": False, "modelId": "distilgpt2"})
    (variant,) = run.one(CONFIG).inputs["productionVariants"]
    assert variant["modelName"] == run.one(MODEL).state["name"]
    assert "managedInstanceScaling" not in variant
    assert not run.of_type(COMPONENT) and not _model_alarms(run)
    assert "INFERENCE_COMPONENT_NAME" not in run.one(FUNCTION).inputs["environment"]["variables"]


def test_the_dev_stack_scales_to_zero(stack_config):
    assert stack_config("dev")["sagemaker-llm:scaleToZero"] is True


@pytest.mark.parametrize(
    ("instance_type", "gpus"),
    [
        ("ml.g4dn.xlarge", 1),
        ("ml.g5.12xlarge", 4),
        ("ml.g6e.48xlarge", 8),
        ("ml.p4d.24xlarge", 8),
        ("ml.p5.4xlarge", 1),
    ],
)
def test_a_copy_takes_every_gpu_of_its_instance(instance_type, gpus):
    assert gpus_of(instance_type) == gpus


def test_an_instance_type_without_a_known_gpu_count_is_a_clear_error():
    with pytest.raises(ValueError, match=r"scaleToZero.*ml\.inf2\.xlarge.*scaleToZero: false"):
        gpus_of("ml.inf2.xlarge")


def test_every_instance_type_in_the_gpu_table_is_one_sagemaker_offers():
    import botocore.session

    offered = set(
        botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum
    )
    assert set(GPUS_BY_INSTANCE_TYPE) - offered == set()


def test_component_names_fit_sagemaker_s_limit():
    assert len(base_component_name("x" * 63)) <= 63
    assert base_component_name("sagemaker-llm-dev") == "sagemaker-llm-dev-model"


def test_the_component_is_created_in_the_stack_s_region_with_its_profile(run_program, pulumi_mocks, monkeypatch):
    # aws-native's default provider reads AWS_REGION / AWS_PROFILE only: a shell exporting another region
    # must not move the model there.
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    pulumi_mocks.mocks.region = "eu-west-1"
    run = run_program({**SCALE_TO_ZERO, "aws:region": "eu-west-1", "aws:profile": "llm-deploy"})
    (provider,) = run.of_type("pulumi:providers:aws-native")
    assert (provider.inputs["region"], provider.inputs["profile"]) == ("eu-west-1", "llm-deploy")
    native = [r for r in run.resources if r.type.startswith("aws-native:")]
    assert native, "scaleToZero creates its inference component with aws-native"
    for resource in native:
        assert resource.provider.startswith(f"{provider.urn}::"), resource.name


def test_without_aws_region_the_component_follows_the_aws_provider_s_region(run_program, pulumi_mocks, monkeypatch):
    # The aws provider then took its region from the environment or the profile; aws-native takes the same.
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    pulumi_mocks.mocks.region = "ap-southeast-2"
    run = run_program(SCALE_TO_ZERO)
    (provider,) = run.of_type("pulumi:providers:aws-native")
    assert provider.inputs["region"] == "ap-southeast-2"
    assert "profile" not in provider.inputs


def _sagemaker_gpu_instance_types():
    import botocore.session

    offered = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType")
    return sorted(t for t in offered.enum if t.startswith(("ml.g", "ml.p")))


@pytest.mark.parametrize("instance_type", _sagemaker_gpu_instance_types())
def test_every_gpu_instance_type_sagemaker_offers_is_in_the_table_or_refused_at_preview(instance_type):
    # A type the table lacks used to pass the preview and fail half-way through `up` (ml.p5.4xlarge: one H100).
    values = {**project_schema().defaults, "modelId": "distilgpt2", "scaleToZero": True, "instanceType": instance_type}
    problems = validate(values)
    if instance_type in GPUS_BY_INSTANCE_TYPE:
        assert not [p for p in problems if p.startswith("instanceType")], problems
    else:
        (problem,) = [p for p in problems if p.startswith("instanceType")]
        assert instance_type in problem and "scaleToZero false" in problem and "ml.g5" in problem
