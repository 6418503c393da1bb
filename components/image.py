"""Which serving image an endpoint runs: the AWS vLLM Deep Learning Container for the region, or an override."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

# The vLLM DLC for SageMaker, pinned: a new version is a deliberate change. The one place it is written:
# the tag derives from it, settings and the local chain import it, tests/engine/setup.sh reads this line.
VLLM_VERSION = "0.27.1"
VLLM_DLC_REPOSITORY = "vllm"
VLLM_DLC_TAG = f"{VLLM_VERSION}-gpu-py312-cu130-ubuntu22.04-sagemaker"
# CUDA 13 images need the inference AMI whose driver supports them: al2023-…-gpu-4-1 has NVIDIA driver 580
# and CUDA 13.0 (the API reference of ProductionVariant.InferenceAmiVersion, also in botocore's model);
# al2-…-gpu-3-1 stops at driver 550 / CUDA 12.4, where a cu130 container never becomes healthy.
CUDA13_INFERENCE_AMI_VERSION = "al2023-ami-sagemaker-inference-gpu-4-1"
# CUDA 12 images need one too: SageMaker's default GPU host AMI has an older driver ("GPU deployments require
# inference_ami_version", aws/deep-learning-containers docs/vllm/deployment/sagemaker.md). Driver 550 runs
# every CUDA 12.x image (CUDA minor version compatibility).
CUDA12_INFERENCE_AMI_VERSION = "al2-ami-sagemaker-inference-gpu-3-1"

# The DLC registry account of every region that has one (aws/deep-learning-containers,
# docs/reference/region_availability.md, "Deep Learning Containers"): a region missing here has no vLLM DLC.
DLC_REGISTRY_ACCOUNTS = {
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "me-west-1": "124382933778",
    "mx-central-1": "637423239942",
    "sa-east-1": "763104351884",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
}


class NoDlcInRegionError(pulumi.RunError, ValueError):
    """The stack's region has no AWS vLLM Deep Learning Container; the Pulumi CLI prints the message alone."""

    def __init__(self, region: str) -> None:
        self.region = region
        super().__init__(
            f"aws:region {region!r} has no AWS vLLM Deep Learning Container (the DLC registry serves "
            f"{', '.join(sorted(DLC_REGISTRY_ACCOUNTS))}). Deploy to one of them "
            "(`pulumi config set aws:region us-east-1`), or set containerImage to a vLLM image in your own "
            "ECR registry in this region."
        )


_ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<domain>amazonaws\.com(\.cn)?)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(:(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))"
)


@dataclass(frozen=True)
class EcrImage:
    """An image in a private ECR registry, the only kind a SageMaker model pulls without extra setup."""

    account: str
    """Registry account id."""
    region: str
    """Registry region."""
    repository: str
    """Repository name, e.g. `vllm`."""
    reference: str
    """`:tag` or `@sha256:digest`."""
    domain: str = "amazonaws.com"
    """amazonaws.com, or amazonaws.com.cn in China."""

    @property
    def uri(self) -> str:
        """The image URI SageMaker pulls."""
        return f"{self.account}.dkr.ecr.{self.region}.{self.domain}/{self.repository}{self.reference}"

    def repository_arn(self, partition: str) -> str:
        """The ECR repository's ARN, for an IAM statement that lets a role pull exactly this image's repository."""
        return f"arn:{partition}:ecr:{self.region}:{self.account}:repository/{self.repository}"

    @property
    def cuda_major_version(self) -> int | None:
        """The CUDA major version the image is built for (tag `…-cu130-…` → 13), or None (CPU, Neuron…)."""
        match = re.search(r"(?:^|[-_:])cu(\d\d)\d(?:$|[-_.])", self.reference)
        return int(match[1]) if match else None


def dlc_registry_account(region: str) -> str:
    """The account of the AWS Deep Learning Containers registry in `region`; NoDlcInRegionError when it has none."""
    try:
        return DLC_REGISTRY_ACCOUNTS[region]
    except KeyError:
        raise NoDlcInRegionError(region) from None


def vllm_dlc_image(region: str, tag: str = VLLM_DLC_TAG) -> EcrImage:
    """The AWS vLLM DLC for SageMaker in `region`, at the pinned tag."""
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return EcrImage(dlc_registry_account(region), region, VLLM_DLC_REPOSITORY, f":{tag}", domain)


def parse_ecr_image(uri: str) -> EcrImage:
    """An ECR image URI split into its parts; ValueError when `uri` is not one."""
    match = _ECR_IMAGE.fullmatch(uri)
    if not match:
        raise ValueError(f"not an ECR image URI: {uri!r}")
    reference = f":{match['tag']}" if match["tag"] else f"@{match['digest']}"
    return EcrImage(match["account"], match["region"], match["repository"], reference, match["domain"])


def serving_image(region: str, container_image: str = "") -> EcrImage:
    """The image an endpoint in `region` runs: `container_image` when set, else the pinned vLLM DLC."""
    return parse_ecr_image(container_image) if container_image else vllm_dlc_image(region)


def inference_ami_version(image: EcrImage) -> str | None:
    """The production variant's `inference_ami_version` whose driver runs the image, or None for SageMaker's default."""
    return {13: CUDA13_INFERENCE_AMI_VERSION, 12: CUDA12_INFERENCE_AMI_VERSION}.get(image.cuda_major_version or 0)
