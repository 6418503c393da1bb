"""What only a real deploy would reject fails here first: inputs checked against AWS's API model in botocore.

botocore ships each service's API model, the same data the AWS SDKs validate requests with.
"""

import json
import re
from functools import cache

import botocore.session
import pytest

from components.config_checks import BACKEND_DIALECTS

API_ONLY = {"uiEnabled": False}


@cache
def _shape(service, shape):
    return botocore.session.get_session().get_service_model(service).shape_for(shape)


def _member(service, shape, member):
    return _shape(service, shape).members[member]


def _in_range(value, shape):
    meta = shape.metadata
    return meta.get("min", value) <= value <= meta.get("max", value)


@pytest.fixture(params=["dev", "prod", "lmi", "cuda12"])
def run(request, cached_run, stack_config):
    if request.param == "cuda12":
        image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/vllm:0.14.0-gpu-py312-cu129-ubuntu22.04-sagemaker"
        return cached_run({**API_ONLY, "modelId": "distilgpt2", "containerImage": image})
    if request.param == "lmi":
        image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.36.0-lmi28.0.0-cu130"
        config = {"modelId": "distilgpt2", "backendDialect": "lmi", "containerImage": image, "maxModelLen": 2048}
        return cached_run({**API_ONLY, **config, "chatTemplate": "x" * 1024})
    return cached_run(stack_config(request.param))


def test_production_variant_matches_the_sagemaker_api(run):
    (variant,) = run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs["productionVariants"]
    assert variant["instanceType"] in _shape("sagemaker", "ProductionVariantInstanceType").enum
    ami = variant.get("inferenceAmiVersion")
    assert ami is None or ami in _shape("sagemaker", "ProductionVariantInferenceAmiVersion").enum
    timeout = _member("sagemaker", "ProductionVariant", "ContainerStartupHealthCheckTimeoutInSeconds")
    assert _in_range(variant["containerStartupHealthCheckTimeoutInSeconds"], timeout)
    assert (
        variant["initialInstanceCount"]
        >= _member("sagemaker", "ProductionVariant", "InitialInstanceCount").metadata["min"]
    )
    name = _member("sagemaker", "ProductionVariant", "VariantName")
    assert re.fullmatch(name.metadata["pattern"], variant["variantName"])


def _ami_cuda_versions():
    """Each GPU inference AMI's CUDA version (major, minor), as the API documents InferenceAmiVersion."""
    text = re.sub(r"<[^>]+>", " ", _member("sagemaker", "ProductionVariant", "InferenceAmiVersion").documentation)
    return {
        ami: (int(major), int(minor))
        for ami, major, minor in re.findall(r"(\S+-gpu-\S+)\s+Accelerator: GPU.*?CUDA version: (\d+)\.(\d+)", text)
    }


def test_inference_ami_has_the_cuda_driver_the_image_is_built_for(run):
    # A CUDA 13 image (tag …-cu130-…) on a host whose driver only goes to CUDA 12 never passes its health
    # check: the endpoint fails after the whole start-up timeout. The API's own documentation says which
    # CUDA version each inference AMI's driver supports.
    image = run.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["image"]
    (variant,) = run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs["productionVariants"]
    built_for = re.search(r"[-_]cu(\d\d)\d", image.rsplit(":", 1)[-1])
    assert built_for, image
    # CUDA's minor version compatibility: a driver of CUDA X.y runs every X.* image, never an (X+1).* one.
    ami_cuda = _ami_cuda_versions()[variant["inferenceAmiVersion"]]
    assert ami_cuda[0] >= int(built_for[1]), (variant["inferenceAmiVersion"], ami_cuda, image)


def test_container_environment_fits_the_sagemaker_api(run):
    env = run.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["environment"]
    env_shape = _member("sagemaker", "ContainerDefinition", "Environment")
    assert len(env) <= env_shape.metadata["max"] == 100
    for key, value in env.items():
        assert re.fullmatch(env_shape.key.metadata["pattern"], key)
        assert len(key) <= env_shape.key.metadata["max"]
        assert len(value) <= env_shape.value.metadata["max"] == 1024, key


def test_endpoint_name_matches_the_sagemaker_api(run):
    name = run.one("aws:sagemaker/endpoint:Endpoint").inputs["name"]
    shape = _member("sagemaker", "CreateEndpointInput", "EndpointName")
    assert len(name) <= shape.metadata["max"]
    assert re.fullmatch(shape.metadata["pattern"], name)


def test_lambda_function_matches_the_lambda_api(run):
    function = run.one("aws:lambda/function:Function").inputs
    request = "CreateFunctionRequest"
    assert function["runtime"] in _shape("lambda", "Runtime").enum
    assert function["architectures"][0] in _shape("lambda", "Architecture").enum
    assert _in_range(function["timeout"], _member("lambda", request, "Timeout"))
    assert _in_range(function["memorySize"], _member("lambda", request, "MemorySize"))


def test_lambda_environment_fits_lambda_s_4_kb_limit(run):
    variables = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert sum(len(k) + len(v) for k, v in variables.items()) <= 4096


def test_integration_timeout_is_within_the_api_gateway_range(run):
    # botocore models both only as integers: API Gateway's documented ranges
    # (response-transfer-mode.html: a streamed response lasts at most 15 minutes).
    for integration in run.of_type("aws:apigatewayv2/integration:Integration"):
        assert 50 <= integration.inputs["timeoutMilliseconds"] <= 30_000  # HTTP API
    for api in run.of_type("aws:apigateway/restApi:RestApi"):
        for methods in json.loads(api.inputs["body"])["paths"].values():
            integration = next(iter(methods.values()))["x-amazon-apigateway-integration"]
            assert integration["responseTransferMode"] in _shape("apigateway", "ResponseTransferMode").enum
            ceiling = 900_000 if integration["responseTransferMode"] == "STREAM" else 29_000
            assert 50 <= integration["timeoutInMillis"] <= ceiling


def test_ui_instance_type_is_an_ec2_instance_type(run):
    instances = run.of_type("aws:ec2/instance:Instance")
    for instance in instances:
        assert instance.inputs["instanceType"] in _shape("ec2", "InstanceType").enum
        user_data = instance.inputs.get("userData") or instance.inputs.get("userDataBase64") or ""
        assert len(user_data.encode()) <= 16 * 1024


def test_log_retention_is_one_cloudwatch_accepts(run):
    from components.config_checks import LOG_RETENTION_DAYS

    for group in run.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["retentionInDays"] in LOG_RETENTION_DAYS


def test_the_pinned_runtime_is_the_newest_python_lambda_lists():
    import pulumi_aws

    from components.proxy_function import RUNTIME

    pythons = [r for r in _shape("lambda", "Runtime").enum if r.startswith("python3.")]
    # pulumi-aws's enum lists runtimes Lambda accepts for new functions.
    supported = {r.value for r in pulumi_aws.lambda_.Runtime if r.value in pythons}
    newest = max(supported, key=lambda r: int(r.split(".")[1]))
    assert newest == RUNTIME


def test_backend_dialects_are_the_ones_the_proxy_speaks():
    from openai_proxy.contract import DIALECTS

    assert tuple(BACKEND_DIALECTS) == tuple(DIALECTS)


def test_reserved_concurrency_is_one_lambda_accepts(run):
    reserved = run.one("aws:lambda/function:Function").inputs["reservedConcurrentExecutions"]
    request = _shape("lambda", "PutFunctionConcurrencyRequest").members["ReservedConcurrentExecutions"]
    assert reserved == -1 or _in_range(reserved, request)  # -1: the provider removes any reservation


def test_scalable_targets_match_the_application_autoscaling_api(run):
    for target in run.of_type("aws:appautoscaling/target:Target"):
        assert target.inputs["serviceNamespace"] in _shape("application-autoscaling", "ServiceNamespace").enum
        assert target.inputs["scalableDimension"] in _shape("application-autoscaling", "ScalableDimension").enum
        resource_id = _member("application-autoscaling", "RegisterScalableTargetRequest", "ResourceId")
        assert _in_range(len(target.inputs["resourceId"]), resource_id)


def test_scaling_policies_match_the_application_autoscaling_api(run):
    for policy in run.of_type("aws:appautoscaling/policy:Policy"):
        assert policy.inputs["policyType"] in _shape("application-autoscaling", "PolicyType").enum
        tracking = policy.inputs.get("targetTrackingScalingPolicyConfiguration")
        if tracking:
            metric = tracking["predefinedMetricSpecification"]["predefinedMetricType"]
            assert metric in _shape("application-autoscaling", "MetricType").enum
            assert tracking["scaleInCooldown"] >= 0 and tracking["scaleOutCooldown"] >= 0
        step = policy.inputs.get("stepScalingPolicyConfiguration")
        if step:
            assert step["adjustmentType"] in _shape("application-autoscaling", "AdjustmentType").enum
            assert step["metricAggregationType"] in _shape("application-autoscaling", "MetricAggregationType").enum


def test_alarms_match_the_cloudwatch_api(run):
    for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert alarm.inputs["comparisonOperator"] in _shape("cloudwatch", "ComparisonOperator").enum
        if "statistic" in alarm.inputs:
            assert alarm.inputs["statistic"] in _shape("cloudwatch", "Statistic").enum
        # PutMetricAlarm documents these four; the API model types TreatMissingData as a free string.
        assert alarm.inputs.get("treatMissingData", "missing") in {"breaching", "notBreaching", "ignore", "missing"}
