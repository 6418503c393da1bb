"""A stack's settings without the Pulumi CLI, and what they give the container and the proxy.

Pulumi.yaml's schema and Pulumi.<stack>.yaml's values go through the program's own
`load_settings` (so a bad config fails here with the message a preview prints), then through
ModelEndpoint's `container_environment` (the container's `SM_VLLM_*`) and the variables
ProxyFunction sets: what runs here is what the stack deploys, model and key aside.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.component_hosting import base_component_name
from components.config_checks import HF_MODEL_ID
from components.lora_adapters import adapter_component_name
from components.model_endpoint import ModelEndpointArgs, container_environment, stable_endpoint_name
from components.proxy_function import ProxyFunctionArgs
from components.settings import PROJECT_FILE, Settings, load_settings, project_schema

ENCRYPTED = "(encrypted)"
"""What a `secure:` value reads as here: set, but only the Pulumi CLI can decrypt it."""


class StackError(Exception):
    """The stack or the model cannot run locally: a one-line message for the person who ran the command."""


@dataclass(frozen=True)
class LocalStack:
    """One stack's settings and the names its deployment would have."""

    name: str
    settings: Settings
    region: str
    adapters: Mapping[str, Path] = field(default_factory=dict)
    """The LoRA adapters served here (`--adapter`): public model name → folder or .tar.gz."""

    @property
    def endpoint_name(self) -> str:
        return stable_endpoint_name(project_schema().name, self.name)

    @property
    def inference_component_name(self) -> str:
        """The component the proxy invokes (scaleToZero or adapters, the stack's or these), or ""."""
        hosting = self.settings.component_hosting or bool(self.adapters)
        return base_component_name(self.endpoint_name) if hosting else ""

    @property
    def adapter_components(self) -> dict[str, str]:
        """Public name of each adapter served here → its adapter component, named as ModelEndpoint names it."""
        return {name: adapter_component_name(self.endpoint_name, name) for name in self.adapters}


def stack_file(stack: str) -> Path:
    return PROJECT_FILE.parent / f"Pulumi.{stack}.yaml"


def read_stack(stack: str) -> LocalStack:
    """Load Pulumi.<stack>.yaml as `pulumi preview` would; a `SettingsError` when the config is invalid."""
    path = stack_file(stack)
    if not re.fullmatch(r"[\w.-]+", stack) or not path.is_file():
        stacks = sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_FILE.parent.glob("Pulumi.*.yaml")
        )
        raise StackError(f"no stack file Pulumi.{stack}.yaml next to Pulumi.yaml (stacks: {', '.join(stacks)})")
    try:
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    except (yaml.YAMLError, AttributeError) as error:
        raise StackError(f"{path.name} is not a Pulumi stack file: {' '.join(str(error).split())}") from None
    values, secret_keys = config_values(config)
    pulumi.runtime.set_all_config(values, secret_keys=secret_keys)
    settings = load_settings()
    return LocalStack(stack, settings, region=values.get("aws:region") or "us-east-1")


def config_values(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Stack file config as the CLI hands it to a program: namespaced keys, string values, secrets marked."""
    project = project_schema().name
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        name = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[name] = ENCRYPTED
            secrets.append(name)
        elif isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, list | dict):
            values[name] = json.dumps(value)
        else:
            values[name] = str(value)
    return values, secrets


def model_source(settings: Settings, model: str | None) -> tuple[str, bool]:
    """What vLLM loads: `--model` (a folder or a hub id), else the stack's modelId; and whether it is a folder."""
    if not model:
        if settings.model_data_uri:
            raise StackError(
                f"this stack serves weights from S3 (modelDataUri {settings.model_data_uri}): "
                "download them and pass --model <folder>"
            )
        return settings.model_id, False
    folder = Path(model).expanduser()
    if folder.exists():
        if not (folder / "config.json").is_file():
            raise StackError(f"--model {model}: not a Hugging Face model folder (no config.json in it)")
        return str(folder.resolve()), True
    if model.startswith(("/", ".", "~")) or not HF_MODEL_ID.fullmatch(model):
        raise StackError(f"--model {model}: no such folder, and not a Hugging Face model id like `org/name`")
    return model, False


def public_model_id(settings: Settings, model: str | None, source: str, is_folder: bool) -> str:
    """The model id of the API: the stack's, or for `--model` the hub id or folder name (servedModelName wins)."""
    if not model or settings.served_model_name:
        return settings.effective_served_model_name
    return Path(source).name if is_folder else source


def container_variables(
    settings: Settings, source: str, served_name: str, adapters: Mapping[str, Path] | None = None
) -> dict[str, str]:
    """The container's environment as ModelEndpoint sets it, for `source` (HF_TOKEN comes from your shell) and
    the `adapters` served here (vLLM's LoRA settings are sized to them, as the stack's are to its own)."""
    if settings.backend_dialect != "openai":
        raise StackError(
            f"backendDialect {settings.backend_dialect}: the local chain runs vLLM, which speaks `openai`; "
            "try it with a stack that uses the vLLM container"
        )
    args = dataclasses.replace(
        ModelEndpointArgs.from_settings(settings),
        model_id=source,
        model_data_uri="",
        served_model_name=served_name,
        hf_token=None,
        adapters={name: str(path) for name, path in (adapters or {}).items()},  # only their number matters here
    )
    return {name: str(value) for name, value in container_environment(args).items()}


def proxy_variables(stack: LocalStack, served_name: str, api_key: str) -> dict[str, str]:
    """The proxy's environment as ProxyFunction sets it, with the key itself instead of its SSM parameter."""
    args = ProxyFunctionArgs.from_settings(
        stack.settings,
        endpoint_name=stack.endpoint_name,
        invoke_statement={},  # the local chain has no IAM
        served_model_name=served_name,
        inference_component_name=stack.inference_component_name or None,
        adapter_component_names=stack.adapter_components,
    )
    return args.environment(api_key=api_key)
