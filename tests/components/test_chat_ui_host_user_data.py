"""The UI host's boot scripts and OpenWebUI's environment, without Pulumi."""

from pathlib import Path

import pytest
import yaml

from openwebui.environment import FIXED, FROM_STACK, NAMES, SECRETS, openwebui_environment, public_env_lines
from openwebui.user_data import START_SCRIPT, USER_DATA_LIMIT, render_template, render_user_data

ROOT = Path(__file__).resolve().parents[2]
STACK_ENV = {
    "OPENAI_API_BASE_URL": "https://abc.execute-api.eu-west-1.amazonaws.com/v1",
    "DEFAULT_MODELS": "Qwen/Qwen2.5-1.5B-Instruct",
    "WEBUI_ADMIN_EMAIL": "admin@example.com",
    "WEBUI_URL": "https://d111111abcdef8.cloudfront.net",
}
PARAMETERS = {
    "OPENAI_API_KEY": "/sagemaker-llm/dev/proxy/api-key",
    "WEBUI_ADMIN_PASSWORD": "/sagemaker-llm/dev/ui/admin-password",
    "WEBUI_SECRET_KEY": "/sagemaker-llm/dev/ui/webui-secret-key",
}
ORIGIN_SECRET_PARAMETER = "/sagemaker-llm/dev/ui/origin-secret"


def render(**overrides):
    args = {
        "image": "ghcr.io/open-webui/open-webui:v0.12.4",
        "data_volume_id": "vol-0123456789abcdef0",
        "ui_port": 80,
        "stack_env": STACK_ENV,
        "secret_parameters": PARAMETERS,
        "origin_secret_parameter": ORIGIN_SECRET_PARAMETER,
        **overrides,
    }
    return render_user_data(**args)


def test_rendered_user_data_fits():
    assert len(render().encode()) <= USER_DATA_LIMIT


# The longest values a stack accepts: a 100-character stack name (Pulumi's limit) in every parameter name, a
# 256-character servedModelName (settings' limit), a 253-character uiDomainName, an ECR mirror pinned by digest.
LONG_STACK = "s" * 100
LONGEST = {
    "image": "123456789012.dkr.ecr.ap-southeast-7.amazonaws.com/mirror/open-webui/open-webui:v0.12.4@sha256:"
    + "0" * 64,
    "stack_env": {
        "OPENAI_API_BASE_URL": "https://abcdefghij.execute-api.ap-southeast-7.amazonaws.com/v1",
        "DEFAULT_MODELS": "m" * 256,
        "WEBUI_ADMIN_EMAIL": "a" * 64 + "@" + "e" * 60 + ".com",
        "WEBUI_URL": "https://" + ("a" * 61 + ".") * 4 + "com",
    },
    "secret_parameters": {name: f"/sagemaker-llm/{LONG_STACK}/chat-ui/{name.lower()}" for name in PARAMETERS},
    "origin_secret_parameter": f"/sagemaker-llm/{LONG_STACK}/chat-ui/origin-secret",
}
USER_DATA_MARGIN = 1024  # room for the boot script to grow before a long stack name stops a deploy


def test_the_longest_realistic_user_data_fits_with_room_to_spare():
    size = len(render(**LONGEST).encode())
    assert size <= USER_DATA_LIMIT - USER_DATA_MARGIN, f"{size} bytes of EC2's {USER_DATA_LIMIT}"


def test_the_template_s_own_comments_stay_out_of_the_user_data_but_the_installed_files_keep_theirs():
    user_data = render()
    assert "# First boot of the OpenWebUI host" not in user_data
    assert user_data.startswith("#!/bin/bash\n")
    start_script_comment = next(line for line in START_SCRIPT.read_text().splitlines() if line.startswith("# "))
    assert f"\n{start_script_comment}\n" in user_data


def test_user_data_logs_and_stops_at_the_first_error():
    user_data = render()
    assert user_data.startswith("#!/bin/bash\n")
    assert "set -euo pipefail\n" in user_data
    assert "exec >>/var/log/openwebui-setup.log 2>&1\n" in user_data


def test_secrets_reach_the_host_as_parameter_names_only():
    user_data = render()
    for name, parameter in PARAMETERS.items():
        assert f"{name}={parameter}\n" in user_data
    assert f"\nORIGIN_SECRET_PARAMETER={ORIGIN_SECRET_PARAMETER}\n" in user_data


def test_an_origin_secret_parameter_that_is_not_a_name_is_refused():
    with pytest.raises(ValueError, match="not an SSM parameter name"):
        render(origin_secret_parameter="s3cr3t value")


def test_image_with_shell_characters_is_quoted():
    user_data = render(image="ghcr.io/x/y:1;rm -rf /")
    assert "IMAGE='ghcr.io/x/y:1;rm -rf /'\n" in user_data


@pytest.mark.parametrize(
    "parameters",
    [
        {**PARAMETERS, "OPENAI_API_KEY": "sk-not-a-name with spaces"},
        {k: v for k, v in PARAMETERS.items() if k != "WEBUI_SECRET_KEY"},
    ],
    ids=["value-instead-of-name", "missing-parameter"],
)
def test_secret_parameters_must_be_names_of_every_secret(parameters):
    with pytest.raises(ValueError, match="parameter"):
        render(secret_parameters=parameters)


def test_multiline_value_is_refused():
    with pytest.raises(ValueError, match="single line"):
        render(stack_env={**STACK_ENV, "WEBUI_ADMIN_EMAIL": "a@example.com\nOPENAI_API_KEY=stolen"})


def test_template_refuses_a_missing_or_unused_value():
    with pytest.raises(ValueError, match="no value"):
        render_template("A={{ a }} B={{ b }}", {"a": "1"})
    with pytest.raises(ValueError, match="not used"):
        render_template("A={{ a }}", {"a": "1", "b": "2"})


def test_environment_is_split_into_fixed_stack_and_secret():
    assert len(NAMES) == len(FIXED) + len(FROM_STACK) + len(SECRETS)
    assert set(SECRETS) == {"OPENAI_API_KEY", "WEBUI_ADMIN_PASSWORD", "WEBUI_SECRET_KEY"}
    assert FIXED["ENABLE_PERSISTENT_CONFIG"] == "false"  # a new API URL must win over the database
    assert FIXED["ENABLE_SIGNUP"] == "false"
    assert FIXED["WEBUI_AUTH"] == "true"
    assert FIXED["ENABLE_OLLAMA_API"] == "false"


def test_full_environment_names_every_variable():
    env = openwebui_environment(
        api_base_url="http://127.0.0.1:8000/v1",
        api_key="k",
        model_id="m",
        admin_email="admin@example.com",
        admin_password="p",
        secret_key="s",
        ui_url="https://d111111abcdef8.cloudfront.net",
    )
    assert set(env) == NAMES


def test_public_env_lines_hold_no_secret_name():
    lines = public_env_lines(STACK_ENV)
    assert not any(line.split("=", 1)[0] in SECRETS for line in lines.splitlines())


def compose_service() -> dict:
    compose = yaml.safe_load((ROOT / "openwebui" / "docker-compose.yml").read_text())
    return compose["services"]["open-webui"]


def test_compose_file_uses_the_same_environment():
    environment = compose_service()["environment"]
    assert set(environment) == NAMES
    for name, value in FIXED.items():
        assert environment[name] == value


def test_compose_file_runs_the_pinned_image_on_a_named_volume():
    service = compose_service()
    pinned = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["openWebUiImage"]["default"]
    assert pinned in service["image"]
    assert any(volume.endswith(":/app/backend/data") for volume in service["volumes"])
