"""The stack configuration, read once into one frozen, validated object.

Defaults come from Pulumi.yaml's typed `config:` schema, the same defaults the Pulumi CLI applies,
so a run under mocks (where nothing reads Pulumi.yaml) and a real `pulumi up` agree.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import pulumi
import yaml

from components.image import VLLM_VERSION, parse_ecr_image
from components.instance_gpus import GPUS_BY_INSTANCE_TYPE, known_families
from components.lora_adapters import MAX_LORA_RANKS, adapter_problems
from components.vllm_args import STACK_VARIABLES_AT_MOST, vllm_args_environment, vllm_args_problems
from openai_proxy.contract import DIALECTS

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
SECRET_KEYS = frozenset({"apiKey", "hfToken"})
BACKEND_DIALECTS = tuple(DIALECTS)
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
# A SageMaker container environment value holds at most this many characters (botocore's EnvironmentValue).
MAX_ENVIRONMENT_VALUE = 1024
# A configured API key as long as a generated one is guessed no sooner (the generated key has 48 characters).
MIN_API_KEY_LENGTH = 32

_HF_MODEL_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_S3_PREFIX = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>\S+/)")
# registry/name, then a tag, a digest or both (`:v0.12.4@sha256:…`: the version stays readable, the digest decides).
_PINNED_IMAGE = re.compile(r"[\w.-]+(:\d+)?(/[\w.-]+)+(:(?P<tag>[\w.-]{1,128}))?(?P<digest>@sha256:[0-9a-f]{64})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_VPC_ID = re.compile(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?")
_SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8}([0-9a-f]{9})?")
_KMS_KEY_ARN = re.compile(
    r"arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}|arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key/mrk-[0-9a-f]{32}"
)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_US_EAST_1_CERTIFICATE = re.compile(r"arn:aws:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}")
# The tool-call parser names of the DLC's vLLM (VLLM_VERSION, components/image.py): vllm's
# ToolParserManager registry in that version; tests/engine checks this list against the real one.
VLLM_TOOL_CALL_PARSERS: tuple[str, ...] = (
    "apertus",
    "cohere_command3",
    "cohere_command4",
    "deepseek_v3",
    "deepseek_v31",
    "deepseek_v32",
    "deepseek_v4",
    "ernie45",
    "functiongemma",
    "gemma4",
    "gigachat3",
    "glm45",
    "glm47",
    "granite",
    "granite-20b-fc",
    "granite4",
    "hermes",
    "hunyuan_a13b",
    "hy_v3",
    "inkling",
    "internlm",
    "jamba",
    "kimi_k2",
    "kimi_k3",
    "lfm2",
    "llama3_json",
    "llama4_json",
    "llama4_pythonic",
    "longcat",
    "mimo",
    "minicpm5",
    "minimax_m2",
    "minimax_m3",
    "mistral",
    "olmo3",
    "openai",
    "phi4_mini_json",
    "poolside_v1",
    "pythonic",
    "qwen3_coder",
    "qwen3_xml",
    "seed_oss",
    "step3",
    "step3p5",
    "xlam",
)


class SettingsError(pulumi.RunError, ValueError):
    """The stack configuration is invalid; the message names each bad key and what to do.

    A `pulumi.RunError`, so the Pulumi CLI prints the message alone, without a traceback.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration (namespace `{project_schema().name}`):\n{lines}")


@dataclass(frozen=True)
class ProjectSchema:
    """The parts of Pulumi.yaml settings need: the config namespace and each key's type and default."""

    name: str
    types: Mapping[str, str]
    defaults: Mapping[str, Any]


@functools.cache
def project_schema() -> ProjectSchema:
    """Pulumi.yaml's project name and typed `config:` schema."""
    project = yaml.safe_load(PROJECT_FILE.read_text())
    config = project["config"]
    return ProjectSchema(
        name=project["name"],
        # Pulumi.yaml cannot type a key as an object (its schema knows string, integer, boolean and array):
        # such keys are declared without a type.
        types={key: spec.get("type", "object") for key, spec in config.items()},
        defaults={key: spec["default"] for key, spec in config.items()},
    )


def snake_case(key: str) -> str:
    """`maxInstanceCount` → `max_instance_count`: the Settings field of a config key."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


@functools.cache
def sagemaker_instance_types() -> tuple[str, ...]:
    """Every SageMaker real-time endpoint instance type, from AWS's API model in botocore."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for("ProductionVariantInstanceType").enum)


@functools.cache
def ec2_instance_types() -> tuple[str, ...]:
    """Every EC2 instance type, from AWS's API model in botocore."""
    model = botocore.session.get_session().get_service_model("ec2")
    return tuple(model.shape_for("InstanceType").enum)


@dataclass(frozen=True)
class Settings:
    """One stack's configuration: a field per key of Pulumi.yaml's `config:` schema, validated."""

    model_id: str
    """Hugging Face model id to serve; empty when model_data_uri is set."""
    model_data_uri: str
    """S3 prefix (s3://bucket/prefix/) of uncompressed fine-tuned weights; empty when model_id is set."""
    served_model_name: str
    """Public model id as configured (may be empty); see `public_model_id` for the effective one."""
    instance_type: str
    """SageMaker instance type of the endpoint."""
    instance_count: int
    """Instances at start, and the autoscaling minimum."""
    max_instance_count: int
    """Autoscaling maximum; autoscaling is on only when greater than instance_count."""
    container_image: str
    """Serving image URI; empty means the AWS vLLM DLC of the stack's region."""
    backend_dialect: str
    """openai, lmi or tgi: how the proxy talks to the container."""
    chat_template: str
    """Jinja chat template given to vLLM; empty means the model's own."""
    chat_stop_sequences: tuple[str, ...]
    """Stop sequences the proxy adds to every chat request (for a base model's chatTemplate)."""
    max_model_len: int
    """Context length for vLLM; 0 means the model's own."""
    tensor_parallel_size: int
    """GPUs the model is split over; 0 means every GPU of instance_type."""
    vllm_args: dict[str, Any]
    """vLLM options (`vllm serve` names without `--`) → value, given to the container as SM_VLLM_*."""
    adapters: dict[str, str]
    """LoRA adapters served on the base model: public model name → S3 URI of the adapter's .tar.gz."""
    max_lora_rank: int
    """With adapters: the highest LoRA rank vLLM accepts (--max-lora-rank)."""
    hf_token: pulumi.Output[str] | None
    """Hugging Face token for gated models (secret), or None."""
    api_key: pulumi.Output[str] | None
    """The API key clients send (secret), or None to generate one."""
    max_output_tokens: int
    """Cap the proxy applies to max_tokens."""
    api_rate_limit: int
    """Steady-state requests per second of the API stage."""
    api_burst_limit: int
    """Burst of requests of the API stage."""
    api_cors_origins: tuple[str, ...]
    """Browser origins allowed by CORS; empty means no CORS."""
    api_streaming: bool
    """Serve the API as a REST API with response streaming instead of the buffered HTTP API."""
    log_retention_days: int
    """Days CloudWatch keeps the proxy's, the API's and the endpoint's logs."""
    ui_enabled: bool
    """Whether to run the OpenWebUI host."""
    ui_instance_type: str
    """EC2 instance type of the OpenWebUI host."""
    ui_allowed_cidr: str
    """Who may reach the UI through CloudFront; anything narrower than 0.0.0.0/0 adds a WAF IP set."""
    ui_admin_email: str
    """E-mail address (login) of OpenWebUI's admin account."""
    ssh_key_name: str
    """EC2 key pair of the UI host; empty means none."""
    ssh_allowed_cidr: str
    """CIDR allowed to SSH to the UI host; empty means SSH closed."""
    vpc_id: str
    """VPC of the UI host; empty means the default VPC."""
    subnet_id: str
    """Public subnet of the UI host; empty means a default subnet of the default VPC."""
    open_web_ui_image: str
    """OpenWebUI container image, pinned to a version."""
    tool_call_parser: str
    """vLLM tool-call parser; empty means tools are not forwarded to the container."""
    api_max_concurrency: int
    """Reserved concurrency of the proxy Lambda."""
    model_data_kms_key_arn: str
    """KMS key of the bucket holding model_data_uri; empty means none needed."""
    api_gateway_cloud_watch_role: bool
    """With api_streaming: manage the account's API Gateway CloudWatch Logs role (account-wide)."""
    ui_domain_name: str
    """Custom domain name of the UI behind CloudFront; empty means the distribution's own name."""
    ui_certificate_arn: str
    """ACM certificate (us-east-1) for ui_domain_name."""
    scale_to_zero: bool
    """Host the model as an inference component that scales to zero when idle."""
    idle_minutes: int
    """With scale_to_zero: the copies' scale-in cooldown in minutes (scale_to_zero.py)."""
    alarm_email: str
    """E-mail address the alarms notify (an SNS e-mail subscription); empty means the alarms notify nobody."""

    @property
    def public_model_id(self) -> str:
        """The model id of the API: servedModelName, else modelId, else modelDataUri's last segment."""
        return public_model_id(self.served_model_name, self.model_id, self.model_data_uri)

    @property
    def component_hosting(self) -> bool:
        """True when the model is an inference component: to scale to zero, or to carry adapter components."""
        return self.scale_to_zero or bool(self.adapters)

    @property
    def autoscaling_enabled(self) -> bool:
        """True when the endpoint scales between instance_count and max_instance_count."""
        return self.max_instance_count > self.instance_count

    @property
    def ssh_enabled(self) -> bool:
        """True when SSH to the UI host is open (a key pair and a CIDR are both set)."""
        return bool(self.ssh_key_name and self.ssh_allowed_cidr)


def public_model_id(served_model_name: str, model_id: str, model_data_uri: str) -> str:
    """servedModelName, else modelId, else modelDataUri's last segment: the base model's name in the API."""
    if served_model_name:
        return served_model_name
    if model_id:
        return model_id
    return model_data_uri.rstrip("/").rsplit("/", 1)[-1]


def load_settings(config: pulumi.Config | None = None) -> Settings:
    """Read every key of the project's config namespace, apply Pulumi.yaml's defaults, validate.

    Raises `SettingsError` listing every invalid key with what to do about it.
    """
    schema = project_schema()
    config = config or pulumi.Config(schema.name)
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, kind in schema.types.items():
        try:
            value = _read(config, key, kind)
        except pulumi.ConfigTypeError:
            problems.append(f"{key}: expected a {kind}; fix it with `pulumi config set {key} <{kind}>`.")
            value = None
        values[key] = schema.defaults[key] if value is None else value

    secrets: dict[str, pulumi.Output[str] | None] = {}
    for key in SECRET_KEYS:
        if values[key] and not pulumi.runtime.is_config_secret(config.full_key(key)):
            pulumi.log.warn(f"{key} is stored in plain text; store it encrypted: `pulumi config set --secret {key}`.")
        secrets[key] = config.get_secret(key) if values[key] else None

    problems += _unknown_key_problems(schema)
    problems += validate(values)
    if problems:
        raise SettingsError(problems)
    fields = {snake_case(key): value for key, value in values.items()}
    fields |= {snake_case(key): value for key, value in secrets.items()}
    fields["api_cors_origins"] = tuple(fields["api_cors_origins"])
    fields["chat_stop_sequences"] = tuple(fields["chat_stop_sequences"])
    return Settings(**fields)


def _unknown_key_problems(schema: ProjectSchema) -> list[str]:
    # A mistyped key (`modelID`) would otherwise be ignored silently and the default used.
    prefix = f"{schema.name}:"
    configured = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    unknown = sorted(key.removeprefix(prefix) for key in configured if key.startswith(prefix))
    return [
        f"{key}: not a setting of this project{_suggestion(key, tuple(schema.types))}; "
        f"remove it with `pulumi config rm {key}`."
        for key in unknown
        if key not in schema.types
    ]


def _read(config: pulumi.Config, key: str, kind: str) -> Any:
    readers: dict[str, Callable[[str], Any]] = {
        "string": config.get,
        "integer": config.get_int,
        "boolean": config.get_bool,
        "array": config.get_object,
        "object": config.get_object,
    }
    return readers[kind](key)


def validate(values: Mapping[str, Any]) -> list[str]:
    """Every problem of a complete set of raw config values (camelCase keys), as messages naming the key."""
    problems: list[str] = []
    problems += _model_problems(values)
    problems += _endpoint_problems(values)
    problems += _api_problems(values)
    problems += _round_two_problems(values)
    problems += _serving_problems(values)
    if values["alarmEmail"] and not _EMAIL.fullmatch(values["alarmEmail"]):
        problems.append(f"alarmEmail: {values['alarmEmail']!r} is not an e-mail address like `ops@example.com`.")
    if values["uiEnabled"]:
        problems += _ui_problems(values)
    return problems


def _model_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    model_id, data_uri = v["modelId"], v["modelDataUri"]
    if bool(model_id) == bool(data_uri):
        problems.append(
            "modelId / modelDataUri: set exactly one: `pulumi config set modelId <hugging-face-id>` "
            "or `pulumi config set modelDataUri s3://bucket/prefix/` (and remove the other)."
        )
    if model_id and not _HF_MODEL_ID.fullmatch(model_id):
        problems.append(f"modelId: {model_id!r} is not a Hugging Face model id like `org/name` or `distilgpt2`.")
    if data_uri and not _S3_PREFIX.fullmatch(data_uri):
        problems.append(
            f"modelDataUri: {data_uri!r} is not an S3 prefix; give `s3://bucket/prefix/` (ending in `/`) "
            "of uncompressed weights."
        )
    name = v["servedModelName"]
    if name and (len(name) > 256 or re.search(r"\s", name)):
        problems.append("servedModelName: use at most 256 characters and no spaces.")
    if len(v["chatTemplate"]) > MAX_ENVIRONMENT_VALUE:
        problems.append(
            f"chatTemplate: {len(v['chatTemplate'])} characters; a SageMaker environment value holds at most "
            f"{MAX_ENVIRONMENT_VALUE}. Shorten the template (drop whitespace and comments)."
        )
    stops = v["chatStopSequences"]
    if not isinstance(stops, list) or not all(isinstance(stop, str) and stop for stop in stops) or len(stops) > 4:
        problems.append('chatStopSequences: give at most 4 non-empty strings, e.g. `["\\nUser:"]`.')
    if v["maxModelLen"] < 0:
        problems.append("maxModelLen: must be 0 (the model's own) or a positive number of tokens.")
    return problems


def _endpoint_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    instance_type = v["instanceType"]
    if instance_type not in sagemaker_instance_types():
        problems.append(
            f"instanceType: {instance_type!r} is not a SageMaker endpoint instance type"
            f"{_suggestion(instance_type, sagemaker_instance_types())}."
        )
    elif not v["containerImage"] and not re.match(r"ml\.(g|p)\d", instance_type):
        problems.append(
            f"instanceType: the vLLM container needs an NVIDIA GPU instance (ml.g5.xlarge, ml.g6.xlarge, …), "
            f"not {instance_type!r}; or set containerImage to an image for that hardware."
        )
    if v["instanceCount"] < 1:
        problems.append("instanceCount: must be at least 1.")
    if v["maxInstanceCount"] < v["instanceCount"]:
        problems.append(
            f"maxInstanceCount: {v['maxInstanceCount']} is below instanceCount ({v['instanceCount']}); "
            "set it equal for a fixed size, or higher to turn autoscaling on."
        )
    image = v["containerImage"]
    if image and not _is_ecr_image(image):
        problems.append(
            f"containerImage: {image!r} is not an ECR image SageMaker can pull; give "
            "`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>` (or `@sha256:<digest>`)."
        )
    dialect = v["backendDialect"]
    if dialect not in BACKEND_DIALECTS:
        problems.append(f"backendDialect: {dialect!r} is not one of {', '.join(BACKEND_DIALECTS)}.")
    elif dialect != "openai" and not image:
        problems.append(
            f"backendDialect: {dialect} needs a matching containerImage (a DJL LMI or TGI image); "
            "the default image is the vLLM container, which speaks `openai`."
        )
    return problems


def _api_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    if v["apiKey"] and len(v["apiKey"]) < MIN_API_KEY_LENGTH:  # never echo the key: this message lands in CI logs
        problems.append(
            f"apiKey: too short; use at least {MIN_API_KEY_LENGTH} random characters, e.g. "
            '`pulumi config set --secret apiKey "$(openssl rand -hex 24)"`, or `pulumi config rm apiKey` '
            "to have one generated."
        )
    for key in ("maxOutputTokens", "apiRateLimit", "apiBurstLimit"):
        if v[key] < 1:
            problems.append(f"{key}: must be at least 1.")
    if v["logRetentionDays"] not in LOG_RETENTION_DAYS:
        closest = min(LOG_RETENTION_DAYS, key=lambda days: abs(days - v["logRetentionDays"]))
        problems.append(
            f"logRetentionDays: CloudWatch keeps logs for one of {', '.join(map(str, LOG_RETENTION_DAYS))} days; "
            f"did you mean {closest}?"
        )
    origins = v["apiCorsOrigins"]
    if not isinstance(origins, list) or not all(isinstance(origin, str) for origin in origins):
        problems.append('apiCorsOrigins: must be a list of origins, e.g. `["https://chat.example.com"]`.')
    else:
        problems += [
            f"apiCorsOrigins: {origin!r} is not an origin as a browser sends it, like `https://chat.example.com` "
            "(lower-case scheme and host, a port only when it is not the scheme's default, no path)."
            for origin in origins
            if not _is_origin(origin)
        ]
        if "*" in origins and len(origins) > 1:
            problems.append('apiCorsOrigins: "*" already allows every origin; give it alone or list the origins.')
    return problems


def _round_two_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    parser = v["toolCallParser"]
    if parser and parser not in VLLM_TOOL_CALL_PARSERS:
        problems.append(
            f"toolCallParser: {parser!r} is not a tool-call parser of vLLM {VLLM_VERSION}"
            f"{_suggestion(parser, VLLM_TOOL_CALL_PARSERS)}; one of {', '.join(VLLM_TOOL_CALL_PARSERS)}."
        )
    if parser and v["backendDialect"] != "openai":
        problems.append("toolCallParser: only the vLLM container (backendDialect openai) parses tool calls; unset it.")
    if not 0 <= v["apiMaxConcurrency"] <= 1000:
        problems.append(
            "apiMaxConcurrency: give the proxy's reserved concurrency, 1 to 1000 (default 20), or 0 to reserve none."
        )
    key = v["modelDataKmsKeyArn"]
    if key and not _KMS_KEY_ARN.fullmatch(key):
        problems.append(
            f"modelDataKmsKeyArn: {key!r} is not a KMS key ARN like "
            "`arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab`."
        )
    if key and not v["modelDataUri"]:
        problems.append("modelDataKmsKeyArn: only weights in S3 (modelDataUri) are read with it; unset it.")
    domain, certificate = v["uiDomainName"], v["uiCertificateArn"]
    if domain and not _DOMAIN.fullmatch(domain):
        problems.append(f"uiDomainName: {domain!r} is not a domain name like `chat.example.com`.")
    if bool(domain) != bool(certificate):
        problems.append(
            "uiDomainName / uiCertificateArn: set both (a custom name needs an ACM certificate in us-east-1), "
            "or neither."
        )
    if certificate and not _US_EAST_1_CERTIFICATE.fullmatch(certificate):
        problems.append(
            f"uiCertificateArn: {certificate!r} is not an ACM certificate ARN in us-east-1 "
            "(CloudFront reads certificates from us-east-1 only)."
        )
    if not 5 <= v["idleMinutes"] <= 1440:
        problems.append("idleMinutes: give 5 to 1440 minutes, the scale-in cooldown of the model's copies.")
    offered = v["instanceType"] in sagemaker_instance_types()  # an unknown type has its own message
    if v["scaleToZero"] and offered and v["instanceType"] not in GPUS_BY_INSTANCE_TYPE:
        problems.append(
            f"instanceType: with scaleToZero a model copy takes every GPU of the instance, and no GPU count is known "
            f"for {v['instanceType']!r}; pick one of {known_families()}, or set scaleToZero false."
        )
    return problems


def _serving_problems(v: Mapping[str, Any]) -> list[str]:
    # How the model is served: its GPUs, vLLM's own options, and the LoRA adapters on it.
    problems = []
    instance_type, parallel = v["instanceType"], v["tensorParallelSize"]
    gpus = GPUS_BY_INSTANCE_TYPE.get(instance_type)
    if parallel < 0:
        problems.append(
            "tensorParallelSize: give 0 (every GPU of instanceType) or how many GPUs to split the model over."
        )
    elif parallel and gpus and gpus % parallel:
        divisors = ", ".join(str(n) for n in range(1, gpus + 1) if gpus % n == 0)
        problems.append(
            f"tensorParallelSize: {parallel} does not divide the {gpus} GPUs of {instance_type}; "
            f"give one of {divisors}, or 0 for all of them."
        )
    vllm_args, adapters = v["vllmArgs"], v["adapters"]
    max_entries, max_value = environment_limits()
    vllm_problems = vllm_args_problems(vllm_args, max_value_length=max_value)
    problems += vllm_problems
    if vllm_args and not vllm_problems:
        if v["backendDialect"] != "openai":
            problems.append("vllmArgs: only the vLLM container (backendDialect openai) reads them; unset them.")
        elif len(vllm_args_environment(vllm_args)) + STACK_VARIABLES_AT_MOST > max_entries:
            problems.append(
                f"vllmArgs: a SageMaker container takes at most {max_entries} environment variables and the stack "
                f"sets up to {STACK_VARIABLES_AT_MOST}; give at most {max_entries - STACK_VARIABLES_AT_MOST} options."
            )
    base_name = public_model_id(v["servedModelName"], v["modelId"], v["modelDataUri"])
    problems += adapter_problems(adapters, base_model_name=base_name)
    if adapters and v["backendDialect"] != "openai":
        problems.append("adapters: only the vLLM container (backendDialect openai) serves LoRA adapters; unset them.")
    offered = instance_type in sagemaker_instance_types()  # an unknown type has its own message
    if adapters and not v["scaleToZero"] and offered and not gpus:
        problems.append(
            f"instanceType: with adapters the model is an inference component, which asks for its GPUs by number, "
            f"and no GPU count is known for {instance_type!r}; pick one of {known_families()}."
        )
    if v["maxLoraRank"] not in MAX_LORA_RANKS:
        problems.append(
            f"maxLoraRank: vLLM {VLLM_VERSION} accepts one of {', '.join(map(str, MAX_LORA_RANKS))}; give the "
            "highest rank (`r` in adapter_config.json) of your adapters, rounded up to one of those."
        )
    return problems


@functools.cache
def environment_limits() -> tuple[int, int]:
    """A SageMaker container's environment: at most this many variables, each value at most this long (botocore)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.shape_for("EnvironmentMap").metadata["max"], model.shape_for("EnvironmentValue").metadata["max"]


def _ui_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    ui_type = v["uiInstanceType"]
    if ui_type not in ec2_instance_types():
        problems.append(
            f"uiInstanceType: {ui_type!r} is not an EC2 instance type{_suggestion(ui_type, ec2_instance_types())}."
        )
    if not _EMAIL.fullmatch(v["uiAdminEmail"]):
        problems.append(f"uiAdminEmail: {v['uiAdminEmail']!r} is not an e-mail address like `you@example.com`.")
    problems += _cidr_problems("uiAllowedCidr", v["uiAllowedCidr"], required=True)
    problems += _cidr_problems("sshAllowedCidr", v["sshAllowedCidr"], required=False)
    if v["sshAllowedCidr"] and not v["sshKeyName"]:
        problems.append("sshAllowedCidr: SSH needs a key pair; set sshKeyName too, or unset sshAllowedCidr.")
    vpc_id, subnet_id = v["vpcId"], v["subnetId"]
    if vpc_id and not _VPC_ID.fullmatch(vpc_id):
        problems.append(f"vpcId: {vpc_id!r} is not a VPC id like `vpc-0123456789abcdef0`.")
    if subnet_id and not _SUBNET_ID.fullmatch(subnet_id):
        problems.append(f"subnetId: {subnet_id!r} is not a subnet id like `subnet-0123456789abcdef0`.")
    if subnet_id and not vpc_id:
        problems.append("subnetId: needs vpcId, the VPC the subnet belongs to; set vpcId too.")
    if vpc_id and not subnet_id:
        problems.append("vpcId: needs subnetId, a public subnet of that VPC for the UI host; set subnetId too.")
    image = v["openWebUiImage"]
    match = _PINNED_IMAGE.fullmatch(image)
    if "@" in image and not (match and match["digest"]):
        problems.append(
            f"openWebUiImage: {image!r} has no valid digest; write it as `@sha256:` and 64 lowercase hex digits, "
            "e.g. `ghcr.io/open-webui/open-webui:v0.12.4@sha256:<digest>`."
        )
    elif not match or (not match["digest"] and match["tag"] in {None, "latest", "main", "dev"}):
        problems.append(
            f"openWebUiImage: {image!r} is not pinned to a version; give e.g. `ghcr.io/open-webui/open-webui:v0.12.4`, "
            "best with its digest: `…:v0.12.4@sha256:<digest>`."
        )
    return problems


def _cidr_problems(key: str, value: str, *, required: bool) -> list[str]:
    if not value:
        return [f"{key}: required; give a CIDR such as 203.0.113.7/32."] if required else []
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return [f"{key}: {value!r} is not a CIDR; give one like 203.0.113.7/32."]
        if network.version == 4:
            return [f"{key}: {value!r} has host bits set; did you mean {network}?"]
    # The security group rules are `cidr_ipv4`: the host has no IPv6 address to reach.
    if network.version != 4:
        return [f"{key}: {value!r} is not an IPv4 CIDR; give one like 203.0.113.7/32."]
    return []


def _is_ecr_image(uri: str) -> bool:
    try:
        parse_ecr_image(uri)
    except ValueError:
        return False
    return True


def _is_origin(origin: str) -> bool:
    """`*`, or an origin as browsers serialize it in the Origin header (RFC 6454, section 6.2): CORS compares it
    character for character, so `https://Chat.example.com` or `https://chat.example.com:443` would never match."""
    if origin == "*":
        return True
    match = _BROWSER_ORIGIN.fullmatch(origin)
    return match is not None and match["port"] != {"http": ":80", "https": ":443"}[match["scheme"]]


_BROWSER_ORIGIN = re.compile(r"(?P<scheme>https?)://(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(?P<port>:[0-9]{1,5})?")


def _suggestion(value: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
