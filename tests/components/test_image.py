"""Which image an endpoint runs, per region, and which inference AMI it needs."""

import pulumi
import pytest

from components.image import (
    CUDA12_INFERENCE_AMI_VERSION,
    CUDA13_INFERENCE_AMI_VERSION,
    NoDlcInRegionError,
    inference_ami_version,
    parse_ecr_image,
    serving_image,
    vllm_dlc_image,
)


@pytest.mark.parametrize(
    ("region", "account"),
    [
        ("us-east-1", "763104351884"),
        ("eu-west-1", "763104351884"),
        ("af-south-1", "626614931356"),
        ("ap-east-1", "871362719292"),
        ("eu-south-1", "692866216735"),
        ("eu-south-2", "503227376785"),
        ("eu-central-2", "380420809688"),
        ("me-south-1", "217643126080"),
        ("cn-north-1", "727897471807"),
    ],
)
def test_vllm_dlc_comes_from_the_region_s_registry_account(region, account):
    image = vllm_dlc_image(region)
    assert image.uri.startswith(f"{account}.dkr.ecr.{region}.amazonaws.com")
    assert image.uri.split("/", 1)[1].startswith("vllm:")


def test_china_images_use_the_china_domain_and_partition():
    image = vllm_dlc_image("cn-northwest-1")
    assert ".amazonaws.com.cn/" in image.uri
    assert image.repository_arn("aws-cn") == "arn:aws-cn:ecr:cn-northwest-1:727897471807:repository/vllm"


def test_container_image_override_wins_and_round_trips():
    uri = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/llm-server@sha256:" + "a" * 64
    image = serving_image("us-east-1", uri)
    assert image.uri == uri
    assert image.repository_arn("aws") == "arn:aws:ecr:eu-west-1:111122223333:repository/team/llm-server"


def test_non_ecr_image_is_rejected():
    with pytest.raises(ValueError, match="not an ECR image"):
        parse_ecr_image("vllm/vllm-openai:v0.9.0")


@pytest.mark.parametrize(
    ("tag", "ami"),
    [
        ("0.27.1-gpu-py312-cu130-ubuntu22.04-sagemaker", CUDA13_INFERENCE_AMI_VERSION),
        ("0.36.0-lmi28.0.0-cu130", CUDA13_INFERENCE_AMI_VERSION),
        ("0.14.0-gpu-py312-cu129-ubuntu22.04-sagemaker", CUDA12_INFERENCE_AMI_VERSION),
        ("0.28.0-lmi10.0.0-cu124", CUDA12_INFERENCE_AMI_VERSION),
        ("2.1.0-neuronx-py310-sdk2.18.0-ubuntu20.04", None),
    ],
)
def test_each_cuda_major_version_gets_the_inference_ami_with_its_driver(tag, ami):
    image = parse_ecr_image(f"763104351884.dkr.ecr.us-east-1.amazonaws.com/vllm:{tag}")
    assert inference_ami_version(image) == ami


# Every region whose DLC registry is not 763104351884, as aws/deep-learning-containers
# docs/reference/region_availability.md lists them (an image from the wrong account is never pulled).
@pytest.mark.parametrize(
    ("region", "account"),
    [
        ("ap-east-2", "975050140332"),
        ("ap-south-2", "772153158452"),
        ("ap-southeast-3", "907027046896"),
        ("ap-southeast-4", "457447274322"),
        ("ap-southeast-5", "550225433462"),
        ("ap-southeast-6", "633930458069"),
        ("ap-southeast-7", "590183813437"),
        ("ap-northeast-3", "364406365360"),
        ("ca-west-1", "204538143572"),
        ("il-central-1", "780543022126"),
        ("me-central-1", "914824155844"),
        ("me-west-1", "124382933778"),
        ("mx-central-1", "637423239942"),
    ],
)
def test_newer_regions_pull_from_their_own_dlc_registry(region, account):
    assert vllm_dlc_image(region).account == account


@pytest.mark.parametrize("region", ["us-gov-west-1", "eusc-de-east-1", "ap-southeast-99"])
def test_a_region_without_a_vllm_dlc_is_refused_with_what_to_do(region):
    with pytest.raises(NoDlcInRegionError) as caught:
        vllm_dlc_image(region)
    message = str(caught.value)
    assert region in message
    assert "containerImage" in message
    assert "pulumi config set aws:region" in message
    assert isinstance(caught.value, pulumi.RunError)  # the CLI prints it without a traceback


def test_a_region_without_a_vllm_dlc_stops_the_program_before_any_resource(run_program, pulumi_mocks):
    pulumi_mocks.mocks.region = "us-gov-west-1"
    with pytest.raises(NoDlcInRegionError, match="us-gov-west-1"):
        run_program({"uiEnabled": False, "modelId": "distilgpt2"})
    assert [r.name for r in pulumi_mocks.resources() if r.custom] == []


def test_a_region_without_a_vllm_dlc_still_deploys_an_own_image(run_program, pulumi_mocks):
    pulumi_mocks.mocks.region = "us-gov-west-1"
    image = "111122223333.dkr.ecr.us-gov-west-1.amazonaws.com/vllm:0.27.1-gpu-py312-cu130-ubuntu22.04-sagemaker"
    run = run_program({"uiEnabled": False, "modelId": "distilgpt2", "containerImage": image})
    assert run.one("aws:sagemaker/model:Model").inputs["primaryContainer"]["image"] == image
