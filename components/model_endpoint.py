"""ModelEndpoint: a Hugging Face model (or fine-tuned weights in S3) on a SageMaker real-time endpoint, hosted
on the endpoint's variant (variant_hosting.py) or as inference components with LoRA adapters (component_hosting.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_aws as aws

from components import iam
from components.component_hosting import ComponentHosting
from components.endpoint_rollout import instance_type_marker, verified_endpoint_name
from components.image import EcrImage, inference_ami_version, serving_image
from components.instance_gpus import GPUS_BY_INSTANCE_TYPE
from components.settings import Settings
from components.variant_hosting import VariantHosting
from components.vllm_args import vllm_args_environment

VARIANT_NAME = "AllTraffic"
# Long enough for the container to download a model from the Hugging Face Hub and load it on the GPU.
STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS = 1800
MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS = 1800
MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True, kw_only=True)
class ModelEndpointArgs:
    """What the endpoint serves and on what. No defaults for what the stack configures: Pulumi.yaml holds those,
    and `from_settings` reads them."""

    model_id: str
    """Hugging Face model id, or "" when model_data_uri is set."""
    model_data_uri: str
    """S3 prefix (s3://bucket/prefix/) of uncompressed weights mounted at /opt/ml/model, or ""."""
    served_model_name: str
    """Public model id the container answers to (`model` in requests)."""
    instance_type: str
    """SageMaker instance type."""
    instance_count: int
    """Instances at start, and the autoscaling minimum."""
    max_instance_count: int
    """Autoscaling maximum; autoscaling is on only when greater than instance_count."""
    container_image: str
    """Serving image URI; "" means the AWS vLLM DLC of the stack's region at the pinned tag."""
    backend_dialect: str
    """openai (vLLM DLC), lmi (DJL LMI) or tgi: which environment the container reads."""
    chat_template: str
    """Jinja chat template for models without one; "" means the model's own."""
    max_model_len: int
    """Context length; 0 means the model's own."""
    hf_token: pulumi.Input[str] | None
    """Hugging Face token for gated models (kept secret), or None."""
    log_retention_days: int
    """Days CloudWatch keeps the endpoint's logs."""
    scale_to_zero: bool
    """Serve the model as an inference component that scales to zero instances when idle (scale_to_zero.py)."""
    idle_minutes: int
    """With scale_to_zero: the copies' scale-in cooldown in minutes; it spaces scale-ins after the first."""
    tool_call_parser: str
    """vLLM tool-call parser (e.g. `hermes`); "" leaves tool calling off in the container."""
    model_data_kms_key_arn: str
    """Customer managed KMS key of the bucket holding model_data_uri; "" when none is needed."""
    tensor_parallel_size: int
    """GPUs the model is split over (and an inference component asks for); 0 means every GPU of the instance."""
    vllm_args: Mapping[str, Any]
    """vLLM options (`vllm serve` names without `--`), validated by settings, given as SM_VLLM_*."""
    adapters: Mapping[str, str]
    """LoRA adapters: public model name → S3 URI of its .tar.gz; each an adapter component on the base."""
    max_lora_rank: int
    """With adapters: vLLM's --max-lora-rank."""
    invocations_per_instance_target: float = 30.0
    """Autoscaling target: invocations per instance (or copy) per minute (an LLM answers few requests at once)."""
    endpoint_name: str | None = None
    """Stable endpoint name; None means `<project>-<stack>`."""

    @property
    def parallel_gpus(self) -> int:
        """The tensor-parallel size: tensor_parallel_size, else every GPU of instance_type (0 when unknown)."""
        return self.tensor_parallel_size or GPUS_BY_INSTANCE_TYPE.get(self.instance_type, 0)

    @property
    def component_hosting(self) -> bool:
        """The model is an inference component: to scale to zero, or to carry adapter components."""
        return self.scale_to_zero or bool(self.adapters)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelEndpointArgs:
        """The arguments a stack's settings ask for."""
        return cls(
            model_id=settings.model_id,
            model_data_uri=settings.model_data_uri,
            served_model_name=settings.effective_served_model_name,
            instance_type=settings.instance_type,
            instance_count=settings.instance_count,
            max_instance_count=settings.max_instance_count,
            container_image=settings.container_image,
            backend_dialect=settings.backend_dialect,
            chat_template=settings.chat_template,
            max_model_len=settings.max_model_len,
            hf_token=settings.hf_token,
            log_retention_days=settings.log_retention_days,
            scale_to_zero=settings.scale_to_zero,
            idle_minutes=settings.idle_minutes,
            tool_call_parser=settings.tool_call_parser,
            model_data_kms_key_arn=settings.model_data_kms_key_arn,
            tensor_parallel_size=settings.tensor_parallel_size,
            vllm_args=dict(settings.vllm_args),
            adapters=dict(settings.adapters),
            max_lora_rank=settings.max_lora_rank,
        )


def stable_endpoint_name(project: str, stack: str) -> str:
    """`<project>-<stack>` made a valid SageMaker endpoint name (alphanumerics and hyphens, ≤ 63)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", f"{project}-{stack}").strip("-")
    return name[:63].rstrip("-")


def container_environment(args: ModelEndpointArgs) -> dict[str, pulumi.Input[str]]:
    """The serving container's environment for the dialect: vLLM DLC `SM_VLLM_*`, or LMI/TGI variables."""
    model = MODEL_DIR if args.model_data_uri else args.model_id
    env: dict[str, pulumi.Input[str]]
    if args.backend_dialect == "lmi":
        env = {"HF_MODEL_ID": model, "OPTION_ROLLING_BATCH": "vllm", "SERVING_FAIL_FAST": "true"}
        if args.max_model_len:
            env["OPTION_MAX_MODEL_LEN"] = str(args.max_model_len)
        if args.chat_template:
            env["OPTION_CHAT_TEMPLATE"] = args.chat_template
        if args.parallel_gpus:
            env["TENSOR_PARALLEL_DEGREE"] = str(args.parallel_gpus)
    elif args.backend_dialect == "tgi":
        env = {"HF_MODEL_ID": model}
        if args.max_model_len:
            env["MAX_TOTAL_TOKENS"] = str(args.max_model_len)
        if args.parallel_gpus:  # text-generation-launcher's --num-shard
            env["NUM_SHARD"] = str(args.parallel_gpus)
    else:
        env = {"SM_VLLM_MODEL": model, "SM_VLLM_SERVED_MODEL_NAME": args.served_model_name}
        if args.chat_template:
            env["SM_VLLM_CHAT_TEMPLATE"] = args.chat_template
        if args.max_model_len:
            env["SM_VLLM_MAX_MODEL_LEN"] = str(args.max_model_len)
        # The DLC leaves vLLM at one GPU unless told (its entrypoint passes only the SM_VLLM_* it is given).
        if args.parallel_gpus:
            env["SM_VLLM_TENSOR_PARALLEL_SIZE"] = str(args.parallel_gpus)
        env |= tool_calling_environment(args.tool_call_parser)
        env |= vllm_args_environment(args.vllm_args)
        env |= lora_environment(args.adapters, args.max_lora_rank)
    if args.hf_token is not None:
        env["HF_TOKEN"] = pulumi.Output.secret(args.hf_token)
    return env


def lora_environment(adapters: Mapping[str, str], max_lora_rank: int) -> dict[str, pulumi.Input[str]]:
    """vLLM serving SageMaker's adapter components: `--enable-lora` with room for every adapter at once, and
    `VLLM_ALLOW_RUNTIME_LORA_UPDATING`, which opens the POST /adapters route SageMaker registers each one with
    (vLLM 0.27.1's vllm/entrypoints/serve/lora/api_router.py, model_hosting_container_standards' lora routes)."""
    if not adapters:
        return {}
    return {
        "SM_VLLM_ENABLE_LORA": "true",
        "SM_VLLM_MAX_LORA_RANK": str(max_lora_rank),
        "SM_VLLM_MAX_LORAS": str(len(adapters)),
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "true",
    }


def tool_calling_environment(parser: str) -> dict[str, pulumi.Input[str]]:
    """The DLC's `--enable-auto-tool-choice --tool-call-parser <parser>`; nothing without a parser."""
    if not parser:
        return {}
    return {"SM_VLLM_ENABLE_AUTO_TOOL_CHOICE": "true", "SM_VLLM_TOOL_CALL_PARSER": parser}


class ModelHosting(Protocol):
    """How the endpoint holds the model: on its variant (VariantHosting), or as components (ComponentHosting)."""

    component_name: pulumi.Output[str] | None
    adapter_component_names: dict[str, pulumi.Output[str]]
    component_arns: list[pulumi.Output[str]]
    config_needs_role: bool
    """Whether the endpoint config carries the execution role (it does when its variant holds no model)."""

    def role_statements(self, partition: str) -> list[Any]: ...

    def production_variant(
        self, model: aws.sagemaker.Model, variant: Mapping[str, Any]
    ) -> aws.sagemaker.EndpointConfigurationProductionVariantArgs: ...

    def serve(
        self, *, endpoint: aws.sagemaker.Endpoint, model: aws.sagemaker.Model, marker: pulumi.Resource
    ) -> None: ...


class ModelEndpoint(pulumi.ComponentResource):
    """A SageMaker real-time endpoint serving one model (and its LoRA adapters), updated blue/green when the model
    or instance changes."""

    endpoint_name: pulumi.Output[str]
    """The endpoint's stable name."""
    endpoint_arn: pulumi.Output[str]
    """The endpoint's ARN."""
    served_model_name: str
    """Public model id the container answers to."""
    served_model_names: list[str]
    """Every public model id: the base model's, then each adapter's."""
    image_uri: pulumi.Output[str]
    """The serving image."""
    role_arn: pulumi.Output[str]
    """The execution role SageMaker runs the container with."""
    inference_component_name: pulumi.Output[str] | None
    """With component hosting (scaleToZero or adapters): the base component to invoke; else None."""
    adapter_component_names: dict[str, pulumi.Output[str]]
    """Public model name of each adapter → the adapter component to invoke for it."""

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:index:ModelEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        endpoint_name = args.endpoint_name or stable_endpoint_name(pulumi.get_project(), pulumi.get_stack())
        self.served_model_name = args.served_model_name
        self.served_model_names = [args.served_model_name, *args.adapters]

        # Read before any resource: a region without a vLLM DLC stops the preview here, with nothing created.
        invoke = pulumi.InvokeOptions(parent=self)
        region = aws.get_region(opts=invoke).region
        partition = aws.get_partition(opts=invoke).partition
        account = aws.get_caller_identity(opts=invoke).account_id
        image = serving_image(region, args.container_image)
        self.image_uri = pulumi.Output.from_input(image.uri)

        # SageMaker writes here; created by us so the logs expire.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/sagemaker/Endpoints/{endpoint_name}",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        hosting: ModelHosting = (
            ComponentHosting(name, args, endpoint_name, region, parent=self)
            if args.component_hosting
            else VariantHosting(name, args, parent=self)
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=f"SageMaker execution role of endpoint {endpoint_name}",
            assume_role_policy=pulumi.Output.json_dumps(sagemaker_trust_policy(partition, region, account)),
            opts=child,
        )
        statements = _execution_statements(args, image, partition, log_group) + hosting.role_statements(partition)
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(iam.policy_document(statements)),
            opts=child,
        )
        self.role_arn = role.arn

        container = aws.sagemaker.ModelPrimaryContainerArgs(
            image=self.image_uri,
            environment=container_environment(args),
            model_data_source=_model_data_source(args.model_data_uri),
        )
        # Auto-named (no `name`): a changed model is a new Model created before the old one goes.
        model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=role.arn,
            primary_container=container,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        variant = {
            "variant_name": VARIANT_NAME,
            "instance_type": args.instance_type,
            "container_startup_health_check_timeout_in_seconds": STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS,
            "model_data_download_timeout_in_seconds": MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS
            if args.model_data_uri
            else None,
            "inference_ami_version": inference_ami_version(image),
        }
        # Auto-named too: a changed model or instance type is a new config the endpoint switches to in place.
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            execution_role_arn=role.arn if hosting.config_needs_role else None,
            production_variants=[hosting.production_variant(model, variant)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        # Kept even without autoscaling, so turning it off and changing the type in one run also works.
        marker = instance_type_marker(name, args.instance_type, self)
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=endpoint_name,
            endpoint_config_name=config.name,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, marker]),
        )
        self.endpoint_name = verified_endpoint_name(
            endpoint.name, endpoint.endpoint_config_name, config.name, log_group.name, region
        )
        self.endpoint_arn = endpoint.arn

        hosting.serve(endpoint=endpoint, model=model, marker=marker)
        self.inference_component_name = hosting.component_name
        self.adapter_component_names = hosting.adapter_component_names
        self._component_arns = hosting.component_arns

        self.register_outputs(
            {
                "inference_component_name": self.inference_component_name,
                "adapter_component_names": self.adapter_component_names,
                "endpoint_name": self.endpoint_name,
                "endpoint_arn": self.endpoint_arn,
                "served_model_name": self.served_model_name,
                "served_model_names": self.served_model_names,
                "image_uri": self.image_uri,
                "role_arn": self.role_arn,
            }
        )

    def invoke_statement(self) -> pulumi.Output[dict[str, Any]]:
        """The IAM statement that lets a role call this endpoint (buffered and streaming), and nothing else."""
        # A component is invoked through its endpoint: the request names both.
        resource = [self.endpoint_arn, *self._component_arns] if self._component_arns else self.endpoint_arn
        return pulumi.Output.from_input(
            iam.allow(["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"], resource)
        )


def sagemaker_trust_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """SageMaker may assume the role only for this account's resources in this region.

    The template of "Cross-service confused deputy prevention", SageMaker AI Inference (SageMaker developer
    guide): ArnLike aws:SourceArn `arn:<partition>:sagemaker:<region>:<account>:*`; the account is in the ARN.
    """
    source = {"ArnLike": {"aws:SourceArn": f"arn:{partition}:sagemaker:{region}:{account}:*"}}
    return iam.service_trust_policy("sagemaker.amazonaws.com", source)


def _execution_statements(
    args: ModelEndpointArgs,
    image: EcrImage,
    partition: str,
    log_group: aws.cloudwatch.LogGroup,
) -> list[Any]:
    pull = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    write_logs = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    statements: list[Any] = [
        iam.allow(pull, image.repository_arn(partition), sid="PullServingImage"),
        # GetAuthorizationToken has no resource to scope to: AWS requires "*".
        iam.allow("ecr:GetAuthorizationToken", "*", sid="EcrLogin"),
        iam.allow(write_logs, [log_group.arn, pulumi.Output.format("{0}:*", log_group.arn)], sid="WriteEndpointLogs"),
        # PutMetricData has no resource either; the condition keeps it to SageMaker's endpoint namespace.
        iam.allow(
            "cloudwatch:PutMetricData",
            "*",
            sid="PublishEndpointMetrics",
            condition={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
        ),
    ]
    if args.model_data_uri:
        bucket, prefix = args.model_data_uri.removeprefix("s3://").split("/", 1)
        statements += [
            iam.allow("s3:GetObject", f"arn:{partition}:s3:::{bucket}/{prefix}*", sid="ReadModelWeights"),
            iam.allow(
                "s3:ListBucket",
                f"arn:{partition}:s3:::{bucket}",
                sid="ListModelWeights",
                condition={"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
            ),
        ]
    if args.model_data_kms_key_arn:
        statements.append(model_data_decrypt_statement(args.model_data_kms_key_arn))
    return statements


def model_data_decrypt_statement(key_arn: str) -> dict[str, Any]:
    """kms:Decrypt on the weights bucket's key, only through S3 in the key's region (where the bucket is)."""
    key_region = key_arn.split(":")[3]
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{key_region}.amazonaws.com"}}
    return iam.allow("kms:Decrypt", key_arn, sid="DecryptModelWeights", condition=via_s3)


def _model_data_source(model_data_uri: str) -> aws.sagemaker.ModelPrimaryContainerModelDataSourceArgs | None:
    if not model_data_uri:
        return None
    return aws.sagemaker.ModelPrimaryContainerModelDataSourceArgs(
        s3_data_sources=[
            aws.sagemaker.ModelPrimaryContainerModelDataSourceS3DataSourceArgs(
                s3_uri=model_data_uri, s3_data_type="S3Prefix", compression_type="None"
            )
        ]
    )
