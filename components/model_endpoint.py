"""ModelEndpoint: a Hugging Face model (or fine-tuned weights in S3) on a SageMaker real-time endpoint."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import scale_to_zero
from components.endpoint_rollout import instance_type_marker, verified_endpoint_name
from components.image import EcrImage, inference_ami_version, serving_image
from components.settings import Settings

VARIANT_NAME = "AllTraffic"
# Long enough for the container to download a model from the Hugging Face Hub and load it on the GPU.
STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS = 1800
MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS = 1800
MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class ModelEndpointArgs:
    """What the endpoint serves and on what."""

    model_id: str
    """Hugging Face model id, or "" when model_data_uri is set."""
    model_data_uri: str
    """S3 prefix (s3://bucket/prefix/) of uncompressed weights mounted at /opt/ml/model, or ""."""
    served_model_name: str
    """Public model id the container answers to (`model` in requests)."""
    instance_type: str
    """SageMaker instance type."""
    instance_count: int = 1
    """Instances at start, and the autoscaling minimum."""
    max_instance_count: int = 1
    """Autoscaling maximum; autoscaling is on only when greater than instance_count."""
    container_image: str = ""
    """Serving image URI; "" means the AWS vLLM DLC of the stack's region at the pinned tag."""
    backend_dialect: str = "openai"
    """openai (vLLM DLC), lmi (DJL LMI) or tgi: which environment the container reads."""
    chat_template: str = ""
    """Jinja chat template for models without one; "" means the model's own."""
    max_model_len: int = 0
    """Context length; 0 means the model's own."""
    hf_token: pulumi.Input[str] | None = None
    """Hugging Face token for gated models (kept secret)."""
    log_retention_days: int = 14
    """Days CloudWatch keeps the endpoint's logs."""
    invocations_per_instance_target: float = 30.0
    """Autoscaling target: invocations per instance per minute (an LLM answers few requests at once)."""
    endpoint_name: str | None = None
    """Stable endpoint name; None means `<project>-<stack>`."""
    scale_to_zero: bool = False
    """Serve the model as an inference component that scales to zero instances when idle (scale_to_zero.py)."""
    idle_minutes: int = 30
    """With scale_to_zero: the copies' scale-in cooldown in minutes; it spaces scale-ins after the first."""
    tool_call_parser: str = ""
    """vLLM tool-call parser (e.g. `hermes`); "" leaves tool calling off in the container."""
    model_data_kms_key_arn: str = ""
    """Customer managed KMS key of the bucket holding model_data_uri; "" when none is needed."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelEndpointArgs:
        """The arguments a stack's settings ask for."""
        return cls(
            model_id=settings.model_id,
            model_data_uri=settings.model_data_uri,
            served_model_name=settings.public_model_id,
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
    elif args.backend_dialect == "tgi":
        env = {"HF_MODEL_ID": model}
        if args.max_model_len:
            env["MAX_TOTAL_TOKENS"] = str(args.max_model_len)
    else:
        env = {"SM_VLLM_MODEL": model, "SM_VLLM_SERVED_MODEL_NAME": args.served_model_name}
        if args.chat_template:
            env["SM_VLLM_CHAT_TEMPLATE"] = args.chat_template
        if args.max_model_len:
            env["SM_VLLM_MAX_MODEL_LEN"] = str(args.max_model_len)
        env |= tool_calling_environment(args.tool_call_parser)
    if args.hf_token is not None:
        env["HF_TOKEN"] = pulumi.Output.secret(args.hf_token)
    return env


def tool_calling_environment(parser: str) -> dict[str, pulumi.Input[str]]:
    """The DLC's `--enable-auto-tool-choice --tool-call-parser <parser>`; nothing without a parser."""
    if not parser:
        return {}
    return {"SM_VLLM_ENABLE_AUTO_TOOL_CHOICE": "true", "SM_VLLM_TOOL_CALL_PARSER": parser}


class ModelEndpoint(pulumi.ComponentResource):
    """A SageMaker real-time endpoint serving one model, updated blue/green when the model or instance changes."""

    endpoint_name: pulumi.Output[str]
    """The endpoint's stable name."""
    endpoint_arn: pulumi.Output[str]
    """The endpoint's ARN."""
    served_model_name: str
    """Public model id the container answers to."""
    image_uri: pulumi.Output[str]
    """The serving image."""
    role_arn: pulumi.Output[str]
    """The execution role SageMaker runs the container with."""
    inference_component_name: pulumi.Output[str] | None
    """With scale_to_zero: the inference component to invoke (InferenceComponentName); else None."""

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:index:ModelEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        endpoint_name = args.endpoint_name or stable_endpoint_name(pulumi.get_project(), pulumi.get_stack())
        self.served_model_name = args.served_model_name

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
        component_name = scale_to_zero.component_name_for(endpoint_name) if args.scale_to_zero else None
        component_logs = (
            scale_to_zero.component_log_group(name, component_name, args.log_retention_days, child)
            if component_name
            else None
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=f"SageMaker execution role of endpoint {endpoint_name}",
            assume_role_policy=json.dumps(sagemaker_trust_policy(partition, region, account)),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": _execution_statements(args, image, partition, log_group)
                    + scale_to_zero.log_statements(component_logs),
                }
            ),
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
        variant = aws.sagemaker.EndpointConfigurationProductionVariantArgs(
            variant_name=VARIANT_NAME,
            model_name=model.name,
            instance_type=args.instance_type,
            initial_instance_count=args.instance_count,
            container_startup_health_check_timeout_in_seconds=STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS,
            model_data_download_timeout_in_seconds=(
                MODEL_DATA_DOWNLOAD_TIMEOUT_SECONDS if args.model_data_uri else None
            ),
            inference_ami_version=inference_ami_version(image),
        )
        # Auto-named too; the endpoint below switches to a new configuration in place (blue/green).
        config = (
            aws.sagemaker.EndpointConfiguration(
                f"{name}-config",
                production_variants=[variant],
                opts=child,
            )
            if not args.scale_to_zero
            else scale_to_zero.endpoint_config(
                f"{name}-config",
                instance_type=args.instance_type,
                max_instance_count=args.max_instance_count,
                role_arn=role.arn,
                inference_ami_version=variant.inference_ami_version,
                startup_timeout_seconds=STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS,
                model_data_download_timeout_seconds=variant.model_data_download_timeout_in_seconds,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
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

        if args.max_instance_count > args.instance_count and not args.scale_to_zero:
            target = aws.appautoscaling.Target(
                f"{name}-scaling-target",
                service_namespace="sagemaker",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                # The marker's id makes a new instance type replace the target: deregistered before the update.
                resource_id=pulumi.Output.all(endpoint.name, marker.id).apply(
                    lambda values: f"endpoint/{values[0]}/variant/{VARIANT_NAME}"
                ),
                min_capacity=args.instance_count,
                max_capacity=args.max_instance_count,
                opts=child,
            )
            aws.appautoscaling.Policy(
                f"{name}-scaling-policy",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=args.invocations_per_instance_target,
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type="SageMakerVariantInvocationsPerInstance",
                    ),
                    scale_in_cooldown=300,
                    scale_out_cooldown=60,
                ),
                opts=child,
            )

        # Scale to zero: the model is a component of the endpoint, and its copies scale to and from zero.
        self.inference_component_name, self._component_arn = None, None
        if component_name and component_logs:
            component = scale_to_zero.ScalingComponent(
                name,
                component_name=component_name,
                endpoint=endpoint,
                model_name=model.name,
                log_group=component_logs,
                instance_type=args.instance_type,
                max_instance_count=args.max_instance_count,
                idle_minutes=args.idle_minutes,
                startup_timeout_seconds=STARTUP_HEALTH_CHECK_TIMEOUT_SECONDS,
                model_data_download_timeout_seconds=variant.model_data_download_timeout_in_seconds,
                invocations_per_copy_target=args.invocations_per_instance_target,
                aws_region=region,
                parent=self,
            )
            self.inference_component_name, self._component_arn = component.name, component.arn

        self.register_outputs(
            {
                "inference_component_name": self.inference_component_name,
                "endpoint_name": self.endpoint_name,
                "endpoint_arn": self.endpoint_arn,
                "served_model_name": self.served_model_name,
                "image_uri": self.image_uri,
                "role_arn": self.role_arn,
            }
        )

    def invoke_statement(self) -> pulumi.Output[dict[str, Any]]:
        """The IAM statement that lets a role call this endpoint (buffered and streaming), and nothing else."""
        return pulumi.Output.from_input(
            {
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
                # A component is invoked through its endpoint: the request names both.
                "Resource": [self.endpoint_arn, self._component_arn] if self._component_arn else self.endpoint_arn,
            }
        )


def sagemaker_trust_policy(partition: str, region: str, account: str) -> dict[str, Any]:
    """SageMaker may assume the role only for this account's resources in this region.

    The template of "Cross-service confused deputy prevention", SageMaker AI Inference (SageMaker developer
    guide): ArnLike aws:SourceArn `arn:<partition>:sagemaker:<region>:<account>:*`; the account is in the ARN.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:{partition}:sagemaker:{region}:{account}:*"}},
            }
        ],
    }


def _execution_statements(
    args: ModelEndpointArgs,
    image: EcrImage,
    partition: str,
    log_group: aws.cloudwatch.LogGroup,
) -> list[Any]:
    statements: list[Any] = [
        {
            "Sid": "PullServingImage",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Resource": image.repository_arn(partition),
        },
        # GetAuthorizationToken has no resource to scope to: AWS requires "*".
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {
            "Sid": "WriteEndpointLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": [log_group.arn, pulumi.Output.format("{0}:*", log_group.arn)],
        },
        # PutMetricData has no resource either; the condition keeps it to SageMaker's endpoint namespace.
        {
            "Sid": "PublishEndpointMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
        },
    ]
    if args.model_data_uri:
        bucket, prefix = args.model_data_uri.removeprefix("s3://").split("/", 1)
        statements += [
            {
                "Sid": "ReadModelWeights",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}*",
            },
            {
                "Sid": "ListModelWeights",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:{partition}:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
            },
        ]
    if args.model_data_kms_key_arn:
        statements.append(model_data_decrypt_statement(args.model_data_kms_key_arn))
    return statements


def model_data_decrypt_statement(key_arn: str) -> dict[str, Any]:
    """kms:Decrypt on the weights bucket's key, only through S3 in the key's region (where the bucket is)."""
    key_region = key_arn.split(":")[3]
    return {
        "Sid": "DecryptModelWeights",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{key_region}.amazonaws.com"}},
    }


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
