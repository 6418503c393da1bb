"""What a stack's config may hold: one check per concern, the groups of Pulumi.yaml's `config:` (model and
endpoint, scaling, API, chat UI, monitoring). Each check owns its group's keys: it reports their problems, each
message starting with the key to fix, and reads another group's key only where that decides what its own may be.

`validate` runs them all on raw values (camelCase keys, Pulumi.yaml's defaults applied); components/settings.py
calls it before it builds Settings.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

import botocore.session

from components.image import VLLM_VERSION, parse_ecr_image
from components.instance_gpus import GPUS_BY_INSTANCE_TYPE, known_families
from components.lora_adapters import MAX_LORA_RANKS, adapter_problems
from components.vllm_args import LINE_BREAK_WHY, STACK_VARIABLES_AT_MOST, vllm_args_environment, vllm_args_problems
from openai_proxy.contract import DIALECTS

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

# A Hugging Face model id as the hub writes it: `name` or `org/name`.
HF_MODEL_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
_S3_PREFIX = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<prefix>[^\s*?$]+/)")
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
# An origin as browsers serialize it (scheme, lower-case host, a port): what CORS compares.
_BROWSER_ORIGIN = re.compile(r"(?P<scheme>https?)://(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(?P<port>:[0-9]{1,5})?")
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


def effective_served_model_name(configured: str, model_id: str, model_data_uri: str) -> str:
    """The base model's name in the API: servedModelName, else modelId, else modelDataUri's last segment."""
    if configured:
        return configured
    if model_id:
        return model_id
    return model_data_uri.rstrip("/").rsplit("/", 1)[-1]


def validate(values: Mapping[str, Any]) -> list[str]:
    """Every problem of a complete set of raw config values (camelCase keys), group by group."""
    return [problem for check in GROUP_CHECKS.values() for problem in check(values)]


def model_problems(v: Mapping[str, Any]) -> list[str]:
    """Model and endpoint: what is served (weights, name), in which container, and how vLLM serves it."""
    return _model_source_problems(v) + _container_problems(v) + _serving_problems(v)


def _model_source_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    model_id, data_uri = v["modelId"], v["modelDataUri"]
    if bool(model_id) == bool(data_uri):
        problems.append(
            "modelId / modelDataUri: set exactly one: `pulumi config set modelId <hugging-face-id>` "
            "or `pulumi config set modelDataUri s3://bucket/prefix/` (and remove the other)."
        )
    if model_id and not HF_MODEL_ID.fullmatch(model_id):
        problems.append(f"modelId: {model_id!r} is not a Hugging Face model id like `org/name` or `distilgpt2`.")
    if data_uri and not _S3_PREFIX.fullmatch(data_uri):
        problems.append(
            f"modelDataUri: {data_uri!r} is not an S3 prefix; give `s3://bucket/prefix/` (ending in `/`, "
            "no `*`, `?` or `$`, which IAM would read as a pattern) of uncompressed weights."
        )
    name = v["servedModelName"]
    if name and (len(name) > 256 or re.search(r"\s", name)):
        problems.append("servedModelName: use at most 256 characters and no spaces.")
    key = v["modelDataKmsKeyArn"]
    if key and not _KMS_KEY_ARN.fullmatch(key):
        problems.append(
            f"modelDataKmsKeyArn: {key!r} is not a KMS key ARN like "
            "`arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab`."
        )
    if key and not v["modelDataUri"]:
        problems.append("modelDataKmsKeyArn: only weights in S3 (modelDataUri) are read with it; unset it.")
    return problems


def _container_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    instance_type = v["instanceType"]
    if instance_type not in sagemaker_instance_types():
        problems.append(
            f"instanceType: {instance_type!r} is not a SageMaker endpoint instance type"
            f"{did_you_mean(instance_type, sagemaker_instance_types())}."
        )
    elif not v["containerImage"] and not re.match(r"ml\.(g|p)\d", instance_type):
        problems.append(
            f"instanceType: the vLLM container needs an NVIDIA GPU instance (ml.g5.xlarge, ml.g6.xlarge, …), "
            f"not {instance_type!r}; or set containerImage to an image for that hardware."
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
    if len(v["chatTemplate"]) > MAX_ENVIRONMENT_VALUE:
        problems.append(
            f"chatTemplate: {len(v['chatTemplate'])} characters; a SageMaker environment value holds at most "
            f"{MAX_ENVIRONMENT_VALUE}. Shorten the template (drop whitespace and comments)."
        )
    if v["backendDialect"] == "openai" and "\n" in v["chatTemplate"]:
        problems.append(
            f"chatTemplate: has a line break; {LINE_BREAK_WHY} Write a line break the template outputs as "
            "{{ '\\n' }} and fold the YAML with `>-`, as Pulumi.dev.yaml does."
        )
    stops = v["chatStopSequences"]
    if not isinstance(stops, list) or not all(isinstance(stop, str) and stop for stop in stops) or len(stops) > 4:
        problems.append('chatStopSequences: give at most 4 non-empty strings, e.g. `["\\nUser:"]`.')
    if v["maxModelLen"] < 0:
        problems.append("maxModelLen: must be 0 (the model's own) or a positive number of tokens.")
    parser = v["toolCallParser"]
    if parser and parser not in VLLM_TOOL_CALL_PARSERS:
        problems.append(
            f"toolCallParser: {parser!r} is not a tool-call parser of vLLM {VLLM_VERSION}"
            f"{did_you_mean(parser, VLLM_TOOL_CALL_PARSERS)}; one of {', '.join(VLLM_TOOL_CALL_PARSERS)}."
        )
    if parser and v["backendDialect"] != "openai":
        problems.append("toolCallParser: only the vLLM container (backendDialect openai) parses tool calls; unset it.")
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
        counted, give = (f"{gpus} GPUs", f"one of {divisors}") if gpus > 1 else ("1 GPU", "1")
        problems.append(
            f"tensorParallelSize: {parallel} does not divide the {counted} of {instance_type}; "
            f"give {give}, or 0 for all of them."
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
    base_name = effective_served_model_name(v["servedModelName"], v["modelId"], v["modelDataUri"])
    problems += adapter_problems(adapters, base_model_name=base_name)
    if adapters and v["backendDialect"] != "openai":
        problems.append("adapters: only the vLLM container (backendDialect openai) serves LoRA adapters; unset them.")
    offered = instance_type in sagemaker_instance_types()  # an unknown type has its own message
    if offered and not gpus and v["scaleToZero"]:
        problems.append(
            f"instanceType: with scaleToZero a model copy takes every GPU of the instance, and no GPU count is known "
            f"for {instance_type!r}; pick one of {known_families()}, or set scaleToZero false."
        )
    elif offered and not gpus and adapters:
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


def scaling_problems(v: Mapping[str, Any]) -> list[str]:
    """Scaling: how many instances, and whether the model scales to zero."""
    problems = []
    if v["instanceCount"] < 1:
        problems.append("instanceCount: must be at least 1.")
    if v["maxInstanceCount"] < v["instanceCount"]:
        problems.append(
            f"maxInstanceCount: {v['maxInstanceCount']} is below instanceCount ({v['instanceCount']}); "
            "set it equal for a fixed size, or higher to turn autoscaling on."
        )
    if not 5 <= v["idleMinutes"] <= 1440:
        problems.append("idleMinutes: give 5 to 1440 minutes, the scale-in cooldown of the model's copies.")
    return problems


def api_problems(v: Mapping[str, Any]) -> list[str]:
    """API: its key, limits, CORS, and how many answers run at once."""
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
    if not 0 <= v["apiMaxConcurrency"] <= 1000:
        problems.append(
            "apiMaxConcurrency: give the proxy's reserved concurrency, 1 to 1000 (default 20), or 0 to reserve none."
        )
    return problems


def ui_problems(v: Mapping[str, Any]) -> list[str]:
    """Chat UI: the host, who may reach it and by which name. Only its name is checked for an API-only stack."""
    problems = []
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
    if v["uiEnabled"]:
        problems += _ui_host_problems(v)
    return problems


def _ui_host_problems(v: Mapping[str, Any]) -> list[str]:
    problems = []
    ui_type = v["uiInstanceType"]
    if ui_type not in ec2_instance_types():
        problems.append(
            f"uiInstanceType: {ui_type!r} is not an EC2 instance type{did_you_mean(ui_type, ec2_instance_types())}."
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


def monitoring_problems(v: Mapping[str, Any]) -> list[str]:
    """Monitoring: how long logs are kept, and who the alarms notify."""
    problems = []
    if v["logRetentionDays"] not in LOG_RETENTION_DAYS:
        closest = min(LOG_RETENTION_DAYS, key=lambda days: abs(days - v["logRetentionDays"]))
        problems.append(
            f"logRetentionDays: CloudWatch keeps logs for one of {', '.join(map(str, LOG_RETENTION_DAYS))} days; "
            f"did you mean {closest}?"
        )
    if v["alarmEmail"] and not _EMAIL.fullmatch(v["alarmEmail"]):
        problems.append(f"alarmEmail: {v['alarmEmail']!r} is not an e-mail address like `ops@example.com`.")
    return problems


# Pulumi.yaml's group comments (`# --- <title> ---`) name these checks; components/settings.py reads the groups.
GROUP_CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "Model and endpoint": model_problems,
    "Scaling": scaling_problems,
    "API": api_problems,
    "Chat UI": ui_problems,
    "Monitoring": monitoring_problems,
}


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


def did_you_mean(value: str, choices: tuple[str, ...]) -> str:
    """` (did you mean 'x'?)` for the closest of `choices`, or "" when none is close: a parenthesis, so the
    sentence it ends or interrupts keeps its own punctuation."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
