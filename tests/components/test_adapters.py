"""Many fine-tunes on one GPU, under mocks: a base inference component split over the instance's GPUs and one
adapter component per LoRA adapter on it, always on or scaling to zero; what the role may read and the proxy
may invoke; the `models` output."""

from __future__ import annotations

import json

import botocore.session
import pytest

from components.lora_adapters import adapter_component_name
from tests.resource_types import ALARM, COMPONENT, CONFIG, ENDPOINT, MODEL, POLICY, ROLE_POLICY, TARGET

SUPPORT = "s3://ft-bucket/adapters/support.tar.gz"
LEGAL = "s3://ft-bucket/runs/7/legal-v2.tar.gz"
ADAPTERS = {"support": SUPPORT, "legal-v2": LEGAL}
# The example: two adapters on an ml.g5.12xlarge (four A10G GPUs), always on.
TWO_ADAPTERS = {
    "uiEnabled": False,
    "modelId": "Qwen/Qwen2.5-14B-Instruct",
    "instanceType": "ml.g5.12xlarge",
    "adapters": ADAPTERS,
}


@pytest.fixture
def run(cached_run):
    return cached_run(TWO_ADAPTERS)


def _components(run):
    base = [c for c in run.of_type(COMPONENT) if "baseInferenceComponentName" not in c.inputs["specification"]]
    adapters = [c for c in run.of_type(COMPONENT) if "baseInferenceComponentName" in c.inputs["specification"]]
    (base,) = base
    return base, {c.inputs["inferenceComponentName"]: c for c in adapters}


def _policy_of(run, role_name):
    role = run.one("aws:iam/role:Role", role_name)
    (policy,) = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == role.state["name"]]
    return json.loads(policy.inputs["policy"])["Statement"]


def test_the_base_component_takes_the_four_gpus_and_vllm_splits_the_model_over_them(run):
    base, _ = _components(run)
    assert base.inputs["specification"]["computeResourceRequirements"]["numberOfAcceleratorDevicesRequired"] == 4
    assert base.inputs["specification"]["modelName"] == run.one(MODEL).state["name"]
    env = run.one(MODEL).inputs["primaryContainer"]["environment"]
    assert env["SM_VLLM_TENSOR_PARALLEL_SIZE"] == "4"


def test_the_container_serves_sagemakers_adapter_routes_with_room_for_every_adapter(run):
    env = run.one(MODEL).inputs["primaryContainer"]["environment"]
    assert env["SM_VLLM_ENABLE_LORA"] == "true"
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "true"
    assert env["SM_VLLM_MAX_LORA_RANK"] == "16"
    assert env["SM_VLLM_MAX_LORAS"] == "2"


def test_each_adapter_is_an_adapter_component_on_the_base_with_its_archive_and_no_compute_of_its_own(run):
    base, adapters = _components(run)
    endpoint = run.one(ENDPOINT).state["name"]
    expected = {adapter_component_name(endpoint, name): archive for name, archive in ADAPTERS.items()}
    assert {name: c.inputs["specification"]["container"]["artifactUrl"] for name, c in adapters.items()} == expected
    for adapter in adapters.values():
        spec = adapter.inputs["specification"]
        assert spec["baseInferenceComponentName"] == base.state["inferenceComponentName"]
        assert adapter.inputs["endpointName"] == endpoint
        assert set(spec) == {"baseInferenceComponentName", "container"}  # the base's compute, the base's model
        assert "runtimeConfig" not in adapter.inputs


def test_every_inference_component_comes_from_the_stacks_explicit_aws_native_provider(run):
    (provider,) = run.of_type("pulumi:providers:aws-native")
    assert len(run.of_type(COMPONENT)) == 3
    assert all(c.provider.startswith(f"{provider.urn}::") for c in run.of_type(COMPONENT))


def test_the_component_inputs_are_ones_createinferencecomponent_takes():
    # aws-native's camelCase names are CloudFormation's, which are the API's: check them against botocore.
    model = botocore.session.get_session().get_service_model("sagemaker")
    spec = model.shape_for("InferenceComponentSpecification").members
    assert {"BaseInferenceComponentName", "Container"} <= set(spec)
    assert "ArtifactUrl" in model.shape_for("InferenceComponentContainerSpecification").members


def test_always_on_the_base_keeps_a_copy_on_each_instance_and_nothing_scales_it_to_zero(cached_run):
    run = cached_run({**TWO_ADAPTERS, "instanceCount": 2, "maxInstanceCount": 2})
    base, _ = _components(run)
    assert base.inputs["runtimeConfig"] == {"copyCount": 2}
    assert base.ignore_changes == ()  # no autoscaling owns the count: a new instanceCount reaches it
    (variant,) = run.one(CONFIG).inputs["productionVariants"]
    assert "modelName" not in variant
    assert variant["initialInstanceCount"] == 2
    assert variant["managedInstanceScaling"] == {"status": "ENABLED", "minInstanceCount": 2, "maxInstanceCount": 2}
    assert not run.of_type(TARGET) and not run.of_type(POLICY)
    model_endpoint = run.one("sagemaker-llm:index:ModelEndpoint")
    assert not [r for r in run.children(model_endpoint) if r.type == ALARM]


def test_always_on_copies_follow_the_load_but_never_below_instance_count(cached_run):
    run = cached_run({**TWO_ADAPTERS, "instanceCount": 1, "maxInstanceCount": 3})
    (target,) = run.of_type(TARGET)
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 3)
    (policy,) = run.of_type(POLICY)
    assert policy.inputs["policyType"] == "TargetTrackingScaling"
    base, _ = _components(run)
    assert base.ignore_changes == ("runtimeConfig.copyCount",)


def test_a_request_to_an_adapter_wakes_the_base_scaled_to_zero(cached_run):
    run = cached_run({**TWO_ADAPTERS, "scaleToZero": True})
    base, adapters = _components(run)
    (alarm,) = [a for a in run.of_type(ALARM) if a.name.endswith("no-capacity")]
    queries = alarm.inputs["metricQueries"]
    counted = {q["metric"]["dimensions"]["InferenceComponentName"] for q in queries if "metric" in q}
    assert counted == {base.state["inferenceComponentName"], *adapters}
    assert all(q["metric"]["metricName"] == "NoCapacityInvocationFailures" for q in queries if "metric" in q)
    (total,) = [q for q in queries if q.get("returnData")]
    assert total["expression"] == "FILL(m0, 0) + FILL(m1, 0) + FILL(m2, 0)"
    (wake,) = [p for p in run.of_type(POLICY) if p.name.endswith("scale-out-from-zero")]
    assert alarm.inputs["alarmActions"] == [wake.state["arn"]]
    assert wake.inputs["resourceId"] == f"inference-component/{base.state['inferenceComponentName']}"
    assert alarm.inputs["threshold"] == 1 and alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_execution_role_reads_exactly_the_adapter_archives(run):
    statements = {s.get("Sid"): s for s in _policy_of(run, "model-role")}
    assert statements["ReadLoraAdapters"] == {
        "Sid": "ReadLoraAdapters",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": ["arn:aws:s3:::ft-bucket/adapters/support.tar.gz", "arn:aws:s3:::ft-bucket/runs/7/legal-v2.tar.gz"],
    }


def test_without_adapters_the_role_reads_no_archive(cached_run):
    run = cached_run({"uiEnabled": False, "modelId": "distilgpt2", "scaleToZero": True})
    assert "ReadLoraAdapters" not in {s.get("Sid") for s in _policy_of(run, "model-role")}


def test_the_proxy_may_invoke_the_endpoint_the_base_and_each_adapter_and_nothing_else(run):
    base, adapters = _components(run)
    (invoke,) = [s for s in _policy_of(run, "proxy-role") if "sagemaker:InvokeEndpoint" in s["Action"]]
    endpoint = run.one(ENDPOINT).state
    in_config_order = [adapters[adapter_component_name(endpoint["name"], name)] for name in ADAPTERS]
    assert invoke["Resource"] == [
        endpoint["arn"],
        base.state["inferenceComponentArn"],
        *(c.state["inferenceComponentArn"] for c in in_config_order),
    ]


def test_the_models_output_lists_the_base_model_then_each_adapter(run):
    assert run.outputs["models"] == ["Qwen/Qwen2.5-14B-Instruct", "support", "legal-v2"]
    base, _ = _components(run)
    assert run.outputs["inferenceComponentName"] == base.state["inferenceComponentName"]


def test_a_stack_without_adapters_lists_its_one_model(cached_run):
    run = cached_run({"uiEnabled": False, "modelId": "distilgpt2"})
    assert run.outputs["models"] == ["distilgpt2"]
    env = run.one(MODEL).inputs["primaryContainer"]["environment"]
    assert "SM_VLLM_ENABLE_LORA" not in env and "VLLM_ALLOW_RUNTIME_LORA_UPDATING" not in env
    assert env["SM_VLLM_TENSOR_PARALLEL_SIZE"] == "1"  # ml.g4dn.xlarge's one GPU


def test_vllm_args_and_a_smaller_tensor_parallel_size_reach_the_container(cached_run):
    config = {
        **TWO_ADAPTERS,
        "tensorParallelSize": 2,
        "maxLoraRank": 64,
        "vllmArgs": {"enable-prefix-caching": True, "enforce-eager": False, "gpu-memory-utilization": 0.85},
    }
    run = cached_run(config)
    env = run.one(MODEL).inputs["primaryContainer"]["environment"]
    assert env["SM_VLLM_TENSOR_PARALLEL_SIZE"] == "2"
    assert env["SM_VLLM_ENABLE_PREFIX_CACHING"] == "true"
    assert env["SM_VLLM_GPU_MEMORY_UTILIZATION"] == "0.85"
    assert "SM_VLLM_ENFORCE_EAGER" not in env  # false: the DLC leaves the flag out, so do we
    assert env["SM_VLLM_MAX_LORA_RANK"] == "64"
    base, _ = _components(run)
    assert base.inputs["specification"]["computeResourceRequirements"]["numberOfAcceleratorDevicesRequired"] == 2


def test_the_proxy_is_told_each_adapter_and_the_component_that_serves_it(run):
    base, adapters = _components(run)
    variables = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert variables["INFERENCE_COMPONENT_NAME"] == base.state["inferenceComponentName"]
    endpoint = run.one(ENDPOINT).state["name"]
    assert json.loads(variables["ADAPTERS"]) == {name: adapter_component_name(endpoint, name) for name in ADAPTERS}
    assert set(json.loads(variables["ADAPTERS"]).values()) == set(adapters)


def test_without_adapters_the_proxy_gets_no_adapters_variable(cached_run):
    run = cached_run({"uiEnabled": False, "modelId": "distilgpt2", "scaleToZero": True})
    assert "ADAPTERS" not in run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
