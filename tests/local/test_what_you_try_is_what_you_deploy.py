"""One config, two places: sagemaker-llm-local gives vLLM and the proxy what the stack's deployment gives them."""

from __future__ import annotations

import pytest
import yaml

from components.settings import SettingsError, load_settings
from sagemaker_llm_local import cli, stack
from sagemaker_llm_local.engine import container_flags
from sagemaker_llm_local.stack import container_variables, proxy_variables, read_stack
from tests.pulumi_harness import stack_file_config
from tests.resource_types import COMPONENT, FUNCTION, MODEL

LAMBDA_RUNTIME_ONLY = {"AWS_LAMBDA_EXEC_WRAPPER"}  # how Lambda starts the streaming runtime, not a proxy setting


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_container_gets_the_flags_the_stacks_model_gets_on_sagemaker(name, run_program):
    local = read_stack(name)
    settings = local.settings
    variables = container_variables(settings, settings.model_id, settings.effective_served_model_name)

    deployed = run_program(stack_file_config(name), stack=name).one(MODEL).inputs["primaryContainer"]["environment"]

    assert variables == deployed
    flags = container_flags(variables)
    assert flags[flags.index("--model") + 1] == settings.model_id
    if settings.chat_template:
        assert flags[flags.index("--chat-template") + 1] == settings.chat_template


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_proxy_gets_the_environment_the_stacks_lambda_gets_with_the_key_itself(name, run_program):
    local = read_stack(name)
    variables = proxy_variables(local, local.settings.effective_served_model_name, api_key="local-key")

    run = run_program(stack_file_config(name), stack=name)
    deployed = run.one(FUNCTION).inputs["environment"]["variables"]

    assert variables.pop("API_KEY") == "local-key"
    assert deployed.pop("API_KEY_PARAMETER")
    assert variables == {k: v for k, v in deployed.items() if k not in LAMBDA_RUNTIME_ONLY}
    if local.settings.scale_to_zero:
        assert variables["INFERENCE_COMPONENT_NAME"] == run.one(COMPONENT).inputs["inferenceComponentName"]


def test_a_bad_stack_config_fails_with_the_message_a_preview_prints(tmp_path, monkeypatch, capsys, pulumi_mocks):
    config = stack_file_config("dev") | {"sagemaker-llm:maxModelLen": -1, "sagemaker-llm:modelID": "gpt2"}
    (tmp_path / "Pulumi.broken.yaml").write_text(yaml.safe_dump({"config": config}))
    monkeypatch.setattr(stack, "stack_file", lambda name: tmp_path / f"Pulumi.{name}.yaml")
    pulumi_mocks.configure(config)
    with pytest.raises(SettingsError) as preview:
        load_settings()

    code = cli.main(["--stack", "broken", "--no-ui"])

    assert code == 2
    assert capsys.readouterr().err == f"sagemaker-llm-local: {preview.value}\n"
    assert "maxModelLen" in str(preview.value) and "modelID" in str(preview.value)
