"""ModelEndpoint: what the stack config asks for reaches the container and the production variant."""

import pytest

from components.image import CUDA12_INFERENCE_AMI_VERSION, CUDA13_INFERENCE_AMI_VERSION, VLLM_DLC_TAG
from tests.resource_types import CONFIG, ENDPOINT, MODEL, TARGET

SCALING_POLICY = "aws:appautoscaling/policy:Policy"
API_ONLY = {"uiEnabled": False}


def _container(run):
    return run.one(MODEL).inputs["primaryContainer"]


def _variant(run):
    (variant,) = run.one(CONFIG).inputs["productionVariants"]
    return variant


def test_model_id_and_instance_type_reach_the_container_and_the_production_variant(run_program):
    run = run_program({**API_ONLY, "modelId": "Qwen/Qwen2.5-1.5B-Instruct", "instanceType": "ml.g6.xlarge"})
    env = _container(run)["environment"]
    assert env["SM_VLLM_MODEL"] == "Qwen/Qwen2.5-1.5B-Instruct"
    assert env["SM_VLLM_SERVED_MODEL_NAME"] == "Qwen/Qwen2.5-1.5B-Instruct"
    variant = _variant(run)
    assert variant["instanceType"] == "ml.g6.xlarge"
    assert variant["initialInstanceCount"] == 1
    assert variant["modelName"] == run.one(MODEL).state["name"]
    assert run.outputs["modelId"] == "Qwen/Qwen2.5-1.5B-Instruct"


def test_dev_stack_serves_distilgpt2_with_its_chat_template(run_program, stack_config):
    config = stack_config("dev")
    run = run_program({**config, "sagemaker-llm:uiEnabled": False})
    env = _container(run)["environment"]
    assert env["SM_VLLM_MODEL"] == "distilgpt2"
    assert env["SM_VLLM_CHAT_TEMPLATE"] == config["sagemaker-llm:chatTemplate"]
    assert env["SM_VLLM_MAX_MODEL_LEN"] == "1024"
    assert _variant(run)["instanceType"] == "ml.g4dn.xlarge"


def test_the_region_s_vllm_dlc_runs_on_the_cuda13_inference_ami(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2"})
    assert _container(run)["image"] == f"763104351884.dkr.ecr.us-east-1.amazonaws.com/vllm:{VLLM_DLC_TAG}"
    assert _variant(run)["inferenceAmiVersion"] == CUDA13_INFERENCE_AMI_VERSION


def test_container_image_override_is_used_and_a_cuda12_image_runs_on_the_cuda12_inference_ami(run_program):
    # SageMaker's default GPU host AMI has too old a driver for the CUDA 12 DLCs (aws/deep-learning-containers
    # docs/vllm/deployment/sagemaker.md: "GPU deployments require inference_ami_version").
    image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/vllm:0.14.0-gpu-py312-cu129-ubuntu22.04-sagemaker"
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "containerImage": image})
    assert _container(run)["image"] == image
    assert _variant(run)["inferenceAmiVersion"] == CUDA12_INFERENCE_AMI_VERSION


def test_startup_health_check_waits_long_enough_for_a_model_download(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2"})
    assert _variant(run)["containerStartupHealthCheckTimeoutInSeconds"] >= 900


def test_fine_tuned_weights_are_mounted_from_their_s3_prefix(run_program):
    run = run_program({**API_ONLY, "modelDataUri": "s3://my-models/tuned/llama-ft/"})
    container = _container(run)
    assert container["environment"]["SM_VLLM_MODEL"] == "/opt/ml/model"
    assert container["environment"]["SM_VLLM_SERVED_MODEL_NAME"] == "llama-ft"
    (source,) = container["modelDataSource"]["s3DataSources"]
    assert source == {"s3Uri": "s3://my-models/tuned/llama-ft/", "s3DataType": "S3Prefix", "compressionType": "None"}
    assert run.outputs["modelId"] == "llama-ft"


def test_served_model_name_is_what_the_container_and_the_proxy_answer_to(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "servedModelName": "house-model"})
    assert _container(run)["environment"]["SM_VLLM_SERVED_MODEL_NAME"] == "house-model"
    proxy_variables = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert proxy_variables["SERVED_MODEL_NAME"] == "house-model"


def test_hf_token_reaches_the_container_only_as_a_secret(run_program):
    run = run_program({**API_ONLY, "modelId": "meta-llama/Llama-3.2-1B-Instruct", "hfToken": "hf_not_public"})
    model = run.one(MODEL)
    assert model.inputs["primaryContainer"]["environment"]["HF_TOKEN"] == "hf_not_public"
    assert "hf_not_public" not in model.clear_text()


def test_lmi_dialect_sets_the_environment_the_djl_container_reads(run_program):
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.36.0-lmi28.0.0-cu130"
    run = run_program(
        {**API_ONLY, "modelId": "distilgpt2", "backendDialect": "lmi", "containerImage": image, "maxModelLen": 1024}
    )
    env = _container(run)["environment"]
    assert env["HF_MODEL_ID"] == "distilgpt2"
    assert env["OPTION_ROLLING_BATCH"] == "vllm"
    assert env["OPTION_MAX_MODEL_LEN"] == "1024"
    assert not any(key.startswith("SM_VLLM_") for key in env)
    lambda_env = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert lambda_env["BACKEND_DIALECT"] == "lmi"


def test_endpoint_name_is_stable_while_model_and_configuration_are_auto_named(run_program):
    # A changed model or instance type makes a new Model and EndpointConfiguration (auto-named, created
    # first) and updates the endpoint in place to point at them: SageMaker swaps blue/green.
    run = run_program({**API_ONLY, "modelId": "distilgpt2"}, stack="staging")
    assert run.one(ENDPOINT).inputs["name"] == "sagemaker-llm-staging"
    assert "name" not in run.one(MODEL).inputs
    assert "name" not in run.one(CONFIG).inputs
    assert run.one(ENDPOINT).inputs["endpointConfigName"] == run.one(CONFIG).state["name"]
    assert run.outputs["endpointName"] == "sagemaker-llm-staging"


def test_no_autoscaling_unless_max_instance_count_exceeds_instance_count(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "instanceCount": 2, "maxInstanceCount": 2})
    assert run.of_type(TARGET) == []
    assert run.of_type(SCALING_POLICY) == []


def test_autoscaling_tracks_invocations_per_instance_between_the_configured_counts(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "instanceCount": 1, "maxInstanceCount": 3})
    target = run.one(TARGET).inputs
    assert target["resourceId"] == "endpoint/sagemaker-llm-test/variant/AllTraffic"
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 3)
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    policy = run.one(SCALING_POLICY).inputs
    assert policy["policyType"] == "TargetTrackingScaling"
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["predefinedMetricSpecification"]["predefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert policy["resourceId"] == target["resourceId"]


def test_endpoint_logs_expire(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "logRetentionDays": 30})
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "model-logs").inputs
    assert group["name"] == "/aws/sagemaker/Endpoints/sagemaker-llm-test"
    assert group["retentionInDays"] == 30


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_build(run_program, stack_config, stack):
    run = run_program(stack_config(stack))
    assert run.outputs["apiUrl"].endswith("/v1")


def test_tool_call_parser_reaches_the_container_and_the_proxy(run_program):
    # vLLM refuses `tools` without --enable-auto-tool-choice --tool-call-parser; the proxy forwards them only then.
    run = run_program({**API_ONLY, "modelId": "Qwen/Qwen2.5-1.5B-Instruct", "toolCallParser": "hermes"})
    env = _container(run)["environment"]
    assert env["SM_VLLM_ENABLE_AUTO_TOOL_CHOICE"] == "true"
    assert env["SM_VLLM_TOOL_CALL_PARSER"] == "hermes"
    lambda_env = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert lambda_env["TOOL_CALL_PARSER"] == "hermes"


def test_without_a_tool_call_parser_neither_side_turns_tools_on(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2"})
    env = _container(run)["environment"]
    assert not {"SM_VLLM_ENABLE_AUTO_TOOL_CHOICE", "SM_VLLM_TOOL_CALL_PARSER"} & set(env)
    assert "TOOL_CALL_PARSER" not in run.one("aws:lambda/function:Function").inputs["environment"]["variables"]


def test_prod_stack_parses_qwen_tool_calls(run_program, stack_config):
    run = run_program({**stack_config("prod"), "sagemaker-llm:uiEnabled": False})
    assert _container(run)["environment"]["SM_VLLM_TOOL_CALL_PARSER"] == "hermes"
