"""The stack configuration, read once into one frozen, validated object.

Defaults come from Pulumi.yaml's typed `config:` schema, the same defaults the Pulumi CLI applies,
so a run under mocks (where nothing reads Pulumi.yaml) and a real `pulumi up` agree. The keys come in
groups by concern there (a `# --- <group> ---` comment opens each); Settings lists its fields in the same
groups, and components/config_checks.py checks each group.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config_checks import did_you_mean, effective_served_model_name, validate

PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"
SECRET_KEYS = frozenset({"apiKey", "hfToken"})
# Opens a group of keys in Pulumi.yaml's `config:`; the title is the group's heading in docs/configuration.md.
GROUP_COMMENT = re.compile(r"^  # --- (?P<title>.+) ---$", re.MULTILINE)


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
    """The parts of Pulumi.yaml settings need: the config namespace, each key's type and default, the groups."""

    name: str
    types: Mapping[str, str]
    defaults: Mapping[str, Any]
    groups: Mapping[str, tuple[str, ...]]
    """Group title → its keys, in Pulumi.yaml's order."""


@functools.cache
def project_schema() -> ProjectSchema:
    """Pulumi.yaml's project name, typed `config:` schema and groups of keys."""
    text = PROJECT_FILE.read_text()
    project = yaml.safe_load(text)
    config = project["config"]
    return ProjectSchema(
        name=project["name"],
        # Pulumi.yaml cannot type a key as an object (its schema knows string, integer, boolean and array):
        # such keys are declared without a type.
        types={key: spec.get("type", "object") for key, spec in config.items()},
        defaults={key: spec["default"] for key, spec in config.items()},
        groups=_groups(text),
    )


def _groups(text: str) -> dict[str, tuple[str, ...]]:
    # YAML drops comments: the groups are read from the text, each key line (two spaces in) under its comment.
    config = text.split("\nconfig:\n", 1)[1]
    sections = GROUP_COMMENT.split(config)[1:]  # title, body, title, body, …
    return {
        title: tuple(re.findall(r"^  (\w+):", body, flags=re.MULTILINE))
        for title, body in zip(sections[::2], sections[1::2], strict=True)
    }


def snake_case(key: str) -> str:
    """`maxInstanceCount` → `max_instance_count`: the Settings field of a config key."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


@dataclass(frozen=True)
class Settings:
    """One stack's configuration: a field per key of Pulumi.yaml's `config:` schema, validated, in its groups."""

    # --- Model and endpoint
    model_id: str
    """Hugging Face model id to serve; empty when model_data_uri is set."""
    model_data_uri: str
    """S3 prefix (s3://bucket/prefix/) of uncompressed fine-tuned weights; empty when model_id is set."""
    served_model_name: str
    """The public model id as configured (may be empty); `effective_served_model_name` is the one in effect."""
    instance_type: str
    """SageMaker instance type of the endpoint."""
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
    tool_call_parser: str
    """vLLM tool-call parser; empty means tools are not forwarded to the container."""
    model_data_kms_key_arn: str
    """KMS key of the bucket holding model_data_uri; empty means none needed."""

    # --- Scaling
    instance_count: int
    """Instances at start, and the autoscaling minimum."""
    max_instance_count: int
    """Autoscaling maximum; autoscaling is on only when greater than instance_count."""
    scale_to_zero: bool
    """Host the model as an inference component that scales to zero when idle."""
    idle_minutes: int
    """With scale_to_zero: the copies' scale-in cooldown in minutes."""

    # --- API
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
    api_gateway_cloud_watch_role: bool
    """With api_streaming: manage the account's API Gateway CloudWatch Logs role (account-wide)."""
    api_max_concurrency: int
    """Reserved concurrency of the proxy Lambda."""

    # --- Chat UI
    ui_enabled: bool
    """Whether to run the OpenWebUI host."""
    ui_instance_type: str
    """EC2 instance type of the OpenWebUI host."""
    ui_allowed_cidr: str
    """Who may reach the UI through CloudFront; anything narrower than 0.0.0.0/0 adds a WAF IP set."""
    ui_admin_email: str
    """E-mail address (login) of OpenWebUI's admin account."""
    ui_domain_name: str
    """Custom domain name of the UI behind CloudFront; empty means the distribution's own name."""
    ui_certificate_arn: str
    """ACM certificate (us-east-1) for ui_domain_name."""
    open_web_ui_image: str
    """OpenWebUI container image, pinned to a version."""
    ssh_key_name: str
    """EC2 key pair of the UI host; empty means none."""
    ssh_allowed_cidr: str
    """CIDR allowed to SSH to the UI host; empty means SSH closed."""
    vpc_id: str
    """VPC of the UI host; empty means the default VPC."""
    subnet_id: str
    """Public subnet of the UI host; empty means a default subnet of the default VPC."""

    # --- Monitoring
    log_retention_days: int
    """Days CloudWatch keeps the proxy's, the API's and the endpoint's logs."""
    alarm_email: str
    """E-mail address the alarms notify (an SNS e-mail subscription); empty means the alarms notify nobody."""

    @property
    def effective_served_model_name(self) -> str:
        """The model id of the API: servedModelName, else modelId, else modelDataUri's last segment."""
        return effective_served_model_name(self.served_model_name, self.model_id, self.model_data_uri)

    @property
    def component_hosting(self) -> bool:
        """True when the model is an inference component: to scale to zero, or to carry adapter components."""
        return self.scale_to_zero or bool(self.adapters)

    @property
    def autoscaling_enabled(self) -> bool:
        """True when the endpoint scales between instance_count and max_instance_count."""
        return self.max_instance_count > self.instance_count


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
            article = "an" if kind[0] in "aeiou" else "a"
            problems.append(f"{key}: expected {article} {kind}; fix it with `pulumi config set {key} <{kind}>`.")
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
        f"{key}: not a setting of this project{did_you_mean(key, tuple(schema.types))}; "
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
