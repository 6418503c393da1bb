"""Stack config → Settings: Pulumi.yaml's defaults, the committed stacks, and a clear message for each mistake."""

import re
from dataclasses import fields
from pathlib import Path

import pulumi
import pytest
import yaml

from components.config_checks import GROUP_CHECKS
from components.settings import Settings, SettingsError, load_settings, project_schema, snake_case

ROOT = Path(__file__).resolve().parents[2]
LMI_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.36.0-lmi28.0.0-cu130"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"
CERTIFICATE_EU = "arn:aws:acm:eu-west-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"
LOCAL_KEY = "sk-local-key-0f9e8d7c6b5a4f3e2d1c0b"  # settings refuse a key under 32 characters


def _schema() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]


def _load(pulumi_mocks, config) -> Settings:
    pulumi_mocks.configure(config)
    return load_settings()


def test_settings_has_one_field_per_project_config_key():
    assert {f.name for f in fields(Settings)} == {snake_case(key) for key in _schema()}


def test_pulumi_yaml_groups_every_key_once_under_a_concern_with_its_own_check():
    schema = project_schema()
    assert [key for keys in schema.groups.values() for key in keys] == list(schema.types)
    assert (
        list(schema.groups) == list(GROUP_CHECKS) == ["Model and endpoint", "Scaling", "API", "Chat UI", "Monitoring"]
    )


def test_settings_lists_its_fields_in_pulumi_yaml_order():
    assert [f.name for f in fields(Settings)] == [snake_case(key) for key in project_schema().types]


# Wrong in every way a check knows of, so that each group's check has something to say.
EVERYTHING_WRONG = {
    "modelId": "not a model id!",
    "modelDataUri": "s3://bucket/no-trailing-slash",
    "servedModelName": "has spaces",
    "instanceType": "ml.t2.medium",
    "containerImage": "docker.io/library/vllm:latest",
    "backendDialect": "soap",
    "chatTemplate": "x" * 2000,
    "chatStopSequences": [""],
    "maxModelLen": -1,
    "tensorParallelSize": -1,
    "vllmArgs": {"max-model-len": 4096},
    "adapters": {"bad name!": "http://example.com/a.zip"},
    "maxLoraRank": 7,
    "toolCallParser": "hermez",
    "modelDataKmsKeyArn": "not-a-key",
    "instanceCount": 0,
    "maxInstanceCount": -1,
    "scaleToZero": True,
    "idleMinutes": 1,
    "apiKey": "short",
    "maxOutputTokens": 0,
    "apiRateLimit": 0,
    "apiBurstLimit": 0,
    "apiCorsOrigins": ["ftp://example.com/path"],
    "apiMaxConcurrency": 5000,
    "uiInstanceType": "t3.smal",
    "uiAllowedCidr": "203.0.113.7/8",
    "uiAdminEmail": "nobody",
    "uiDomainName": "Not A Domain",
    "sshAllowedCidr": "not-a-cidr",
    "vpcId": "vpc-1",
    "openWebUiImage": "ghcr.io/open-webui/open-webui:latest",
    "logRetentionDays": 10,
    "alarmEmail": "nobody",
}


@pytest.mark.parametrize("group", list(GROUP_CHECKS))
def test_each_group_s_check_reports_its_own_keys_alone(group):
    schema = project_schema()
    problems = GROUP_CHECKS[group]({**schema.defaults, **EVERYTHING_WRONG})
    assert problems
    for problem in problems:
        # `modelId / modelDataUri: …` names two keys, `vllmArgs.max-model-len: …` one and its entry.
        named = {re.match(r"\w+", part)[0] for part in problem.split(":", 1)[0].split(" / ")}
        assert named <= set(schema.groups[group]), problem


def test_unset_keys_take_the_defaults_of_pulumi_yaml(pulumi_mocks):
    settings = _load(pulumi_mocks, {"modelId": "distilgpt2"})
    for key, spec in _schema().items():
        if key in {"modelId", "apiKey", "hfToken"}:
            continue
        value = getattr(settings, snake_case(key))
        expected = tuple(spec["default"]) if spec.get("type") == "array" else spec["default"]
        assert value == expected, key
    assert settings.api_key is None
    assert settings.hf_token is None


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stack_files_load_and_validate(pulumi_mocks, stack_config, stack):
    config = stack_config(stack)
    settings = _load(pulumi_mocks, config)
    assert settings.model_id == config["sagemaker-llm:modelId"]
    assert settings.instance_type == config["sagemaker-llm:instanceType"]


def test_committed_stack_files_hold_no_secrets(stack_config):
    for stack in ("dev", "prod"):
        config = stack_config(stack)
        assert not {"sagemaker-llm:apiKey", "sagemaker-llm:hfToken"} & set(config), stack
        assert not any(isinstance(value, dict) and "secure" in value for value in config.values()), stack


def test_dev_stack_serves_distilgpt2_on_g4dn_with_a_chat_template(pulumi_mocks, stack_config):
    settings = _load(pulumi_mocks, stack_config("dev"))
    assert (settings.model_id, settings.instance_type) == ("distilgpt2", "ml.g4dn.xlarge")
    assert "messages" in settings.chat_template
    assert len(settings.chat_template) <= 1024


def test_prod_stack_autoscales_one_to_three_behind_narrow_cidrs(pulumi_mocks, stack_config):
    settings = _load(pulumi_mocks, stack_config("prod"))
    assert (settings.instance_count, settings.max_instance_count) == (1, 3)
    assert settings.autoscaling_enabled
    assert settings.ui_allowed_cidr != "0.0.0.0/0"


def test_good_values_across_the_groups_are_accepted(pulumi_mocks):
    settings = _load(
        pulumi_mocks,
        {
            "modelDataUri": "s3://my-models/llama-ft/",
            "modelDataKmsKeyArn": KMS_KEY,
            "toolCallParser": "llama3_json",
            "chatStopSequences": ["\nUser:"],
            "apiMaxConcurrency": 50,
            "apiGatewayCloudWatchRole": True,
            "uiDomainName": "chat.example.com",
            "uiCertificateArn": CERTIFICATE,
            "scaleToZero": True,
            "idleMinutes": 15,
        },
    )
    assert (settings.tool_call_parser, settings.api_max_concurrency, settings.idle_minutes) == ("llama3_json", 50, 15)
    assert settings.chat_stop_sequences == ("\nUser:",)
    assert settings.model_data_kms_key_arn == KMS_KEY
    assert settings.api_gateway_cloud_watch_role and settings.scale_to_zero


@pytest.mark.parametrize(
    ("config", "key", "hint"),
    [
        ({}, "modelId", "exactly one"),
        ({"modelId": "gpt2", "modelDataUri": "s3://bucket/weights/"}, "modelDataUri", "exactly one"),
        ({"modelDataUri": "https://bucket/weights/"}, "modelDataUri", "s3://bucket/prefix/"),
        ({"modelDataUri": "s3://bucket/weights"}, "modelDataUri", "ending in `/`"),
        ({"modelId": "not a model id"}, "modelId", "Hugging Face"),
        ({"modelId": "gpt2", "instanceType": "ml.g5.xlarg"}, "instanceType", "did you mean 'ml.g5.xlarge'"),
        ({"modelId": "gpt2", "instanceType": "ml.m5.xlarge"}, "instanceType", "GPU"),
        ({"modelId": "gpt2", "instanceCount": 0}, "instanceCount", "at least 1"),
        ({"modelId": "gpt2", "instanceCount": 3, "maxInstanceCount": 2}, "maxInstanceCount", "below"),
        ({"modelId": "gpt2", "instanceCount": "two"}, "instanceCount", "integer"),
        ({"modelId": "gpt2", "containerImage": "vllm/vllm-openai:latest"}, "containerImage", "ECR"),
        ({"modelId": "gpt2", "backendDialect": "vllm"}, "backendDialect", "openai, lmi, tgi"),
        ({"modelId": "gpt2", "backendDialect": "lmi"}, "backendDialect", "containerImage"),
        ({"modelId": "gpt2", "chatTemplate": "x" * 1025}, "chatTemplate", "1024"),
        ({"modelId": "gpt2", "maxModelLen": -1}, "maxModelLen", "positive"),
        ({"modelId": "gpt2", "maxOutputTokens": 0}, "maxOutputTokens", "at least 1"),
        ({"modelId": "gpt2", "apiRateLimit": 0}, "apiRateLimit", "at least 1"),
        ({"modelId": "gpt2", "apiBurstLimit": 0}, "apiBurstLimit", "at least 1"),
        ({"modelId": "gpt2", "apiCorsOrigins": ["https://chat.example.com/path"]}, "apiCorsOrigins", "origin"),
        # Browsers send the Origin lower-case and without a default port; CORS compares it character for character.
        ({"modelId": "gpt2", "apiCorsOrigins": ["https://Chat.example.com"]}, "apiCorsOrigins", "lower-case"),
        ({"modelId": "gpt2", "apiCorsOrigins": ["https://chat.example.com:443"]}, "apiCorsOrigins", "default"),
        ({"modelId": "gpt2", "apiCorsOrigins": ["*", "https://chat.example.com"]}, "apiCorsOrigins", "alone"),
        ({"modelId": "gpt2", "logRetentionDays": 10}, "logRetentionDays", "did you mean 7"),
        ({"modelId": "gpt2", "uiInstanceType": "t3.smal"}, "uiInstanceType", "did you mean 't3.small'"),
        ({"modelId": "gpt2", "uiAdminEmail": "admin"}, "uiAdminEmail", "e-mail address"),
        ({"modelId": "gpt2", "uiAllowedCidr": "10.0.0.300/32"}, "uiAllowedCidr", "not a CIDR"),
        ({"modelId": "gpt2", "uiAllowedCidr": "203.0.113.7/24"}, "uiAllowedCidr", "did you mean 203.0.113.0/24"),
        ({"modelId": "gpt2", "sshAllowedCidr": "203.0.113.7/32"}, "sshAllowedCidr", "sshKeyName"),
        # The security group rules take IPv4 CIDRs only (cidr_ipv4); AWS would reject these mid-deploy.
        ({"modelId": "gpt2", "uiAllowedCidr": "2001:db8::/32"}, "uiAllowedCidr", "IPv4"),
        ({"modelId": "gpt2", "sshKeyName": "me", "sshAllowedCidr": "2001:db8::1/128"}, "sshAllowedCidr", "IPv4"),
        ({"modelId": "gpt2", "subnetId": "subnet-0123456789abcdef0"}, "subnetId", "needs vpcId"),
        ({"modelId": "gpt2", "vpcId": "vpc-0123456789abcdef0"}, "vpcId", "needs subnetId"),
        ({"modelId": "gpt2", "vpcId": "default"}, "vpcId", "not a VPC id"),
        ({"modelId": "gpt2", "openWebUiImage": "ghcr.io/open-webui/open-webui:main"}, "openWebUiImage", "pinned"),
        ({"modelId": "gpt2", "modelID": "gpt2"}, "modelID", "did you mean 'modelId'"),
        # Round two: tools, concurrency, KMS, the account's API Gateway role, the UI's domain, scale to zero.
        ({"modelId": "gpt2", "toolCallParser": "hermez"}, "toolCallParser", "did you mean 'hermes'"),
        (
            {"modelId": "gpt2", "toolCallParser": "hermes", "backendDialect": "lmi", "containerImage": LMI_IMAGE},
            "toolCallParser",
            "only the vLLM container",
        ),
        ({"modelId": "gpt2", "chatStopSequences": ["a", "b", "c", "d", "e"]}, "chatStopSequences", "at most 4"),
        ({"modelId": "gpt2", "chatStopSequences": [""]}, "chatStopSequences", "non-empty"),
        ({"modelId": "gpt2", "apiMaxConcurrency": -1}, "apiMaxConcurrency", "0 to reserve none"),
        ({"modelId": "gpt2", "apiMaxConcurrency": 1001}, "apiMaxConcurrency", "1 to 1000"),
        (
            {"modelDataUri": "s3://bucket/weights/", "modelDataKmsKeyArn": "alias/weights"},
            "modelDataKmsKeyArn",
            "not a KMS key ARN",
        ),
        ({"modelId": "gpt2", "modelDataKmsKeyArn": KMS_KEY}, "modelDataKmsKeyArn", "only weights in S3"),
        ({"modelId": "gpt2", "apiGatewayCloudWatchRole": "yes"}, "apiGatewayCloudWatchRole", "boolean"),
        ({"modelId": "gpt2", "uiDomainName": "chat", "uiCertificateArn": CERTIFICATE}, "uiDomainName", "domain"),
        ({"modelId": "gpt2", "uiDomainName": "chat.example.com"}, "uiDomainName", "set both"),
        (
            {"modelId": "gpt2", "uiDomainName": "chat.example.com", "uiCertificateArn": CERTIFICATE_EU},
            "uiCertificateArn",
            "us-east-1",
        ),
        ({"modelId": "gpt2", "scaleToZero": "sometimes"}, "scaleToZero", "boolean"),
        ({"modelId": "gpt2", "idleMinutes": 1}, "idleMinutes", "5 to 1440"),
    ],
)
def test_each_invalid_setting_fails_with_a_message_naming_the_key(pulumi_mocks, config, key, hint):
    with pytest.raises(SettingsError) as caught:
        _load(pulumi_mocks, config)
    problem = next((p for p in caught.value.problems if key in p.split(":")[0]), None)
    assert problem is not None, caught.value.problems
    assert hint in problem
    assert key in str(caught.value)


def test_all_problems_are_reported_at_once(pulumi_mocks):
    with pytest.raises(SettingsError) as caught:
        _load(pulumi_mocks, {"modelId": "gpt2", "instanceCount": 0, "logRetentionDays": 10})
    assert [p.split(":")[0] for p in caught.value.problems] == ["instanceCount", "logRetentionDays"]


def test_settings_error_is_reported_by_the_pulumi_cli_without_a_traceback():
    # The language host logs a RunError's message alone; any other exception gets a traceback.
    assert issubclass(SettingsError, pulumi.RunError)
    assert issubclass(SettingsError, ValueError)


def test_cors_origins_as_browsers_send_them_are_accepted_with_the_default_streaming_api(pulumi_mocks):
    origins = [
        "https://chat.example.com",
        "http://localhost:5173",
        "https://chat.example.com:8443",
        "http://[::1]:3000",
    ]
    settings = _load(pulumi_mocks, {"modelId": "gpt2", "apiCorsOrigins": origins})
    assert settings.api_streaming
    assert settings.api_cors_origins == tuple(origins)
    assert _load(pulumi_mocks, {"modelId": "gpt2", "apiCorsOrigins": ["*"]}).api_cors_origins == ("*",)


def test_ui_settings_are_not_checked_for_an_api_only_stack(pulumi_mocks):
    settings = _load(pulumi_mocks, {"modelId": "gpt2", "uiEnabled": False, "uiAllowedCidr": ""})
    assert not settings.ui_enabled


def test_the_served_model_name_defaults_to_model_id_then_the_weights_folder(pulumi_mocks):
    def served(config):
        return _load(pulumi_mocks, config).effective_served_model_name

    assert served({"modelId": "Qwen/Qwen2.5-1.5B-Instruct"}) == "Qwen/Qwen2.5-1.5B-Instruct"
    assert served({"modelDataUri": "s3://my-bucket/tuned/llama-ft/"}) == "llama-ft"
    assert served({"modelId": "gpt2", "servedModelName": "house-model"}) == "house-model"


@pulumi.runtime.test
def test_api_key_and_hf_token_are_read_as_secrets(pulumi_mocks):
    settings = _load(pulumi_mocks, {"modelId": "gpt2", "apiKey": LOCAL_KEY, "hfToken": "hf_x"})
    assert LOCAL_KEY not in repr(settings)

    def check(values):
        key_secret, token_secret, key = values
        assert key_secret and token_secret
        assert key == LOCAL_KEY

    return pulumi.Output.all(
        pulumi.Output.from_input(settings.api_key.is_secret()),
        pulumi.Output.from_input(settings.hf_token.is_secret()),
        settings.api_key,
    ).apply(check)


def test_a_short_api_key_is_refused_at_preview_without_showing_it(pulumi_mocks):
    key = "sk-guessable-0123456789abcdef"  # 29 characters
    with pytest.raises(SettingsError) as caught:
        _load(pulumi_mocks, {"modelId": "gpt2", "apiKey": key})
    message = str(caught.value)
    assert "apiKey: too short; use at least 32 random characters" in message
    assert "pulumi config rm apiKey" in message
    assert key not in message and "guessable" not in message  # the message lands in CI logs


def test_an_api_key_of_32_characters_is_accepted(pulumi_mocks):
    assert _load(pulumi_mocks, {"modelId": "gpt2", "apiKey": "k" * 32}).api_key is not None


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            {"modelId": "gpt2", "instanceCount": "two"},
            "instanceCount: expected an integer; fix it with `pulumi config set instanceCount <integer>`.",
        ),
        (
            {"modelId": "gpt2", "scaleToZero": "sometimes"},
            "scaleToZero: expected a boolean; fix it with `pulumi config set scaleToZero <boolean>`.",
        ),
        (
            {"modelId": "gpt2", "modelID": "gpt2"},
            "modelID: not a setting of this project (did you mean 'modelId'?); remove it with "
            "`pulumi config rm modelID`.",
        ),
        (
            {"modelId": "gpt2", "instanceType": "ml.g5.xlarg"},
            "instanceType: 'ml.g5.xlarg' is not a SageMaker endpoint instance type (did you mean 'ml.g5.xlarge'?).",
        ),
        (
            {"modelId": "gpt2", "uiInstanceType": "t3.smal"},
            "uiInstanceType: 't3.smal' is not an EC2 instance type (did you mean 't3.small'?).",
        ),
    ],
    ids=["an integer", "a boolean", "unknown key", "instance type", "ui instance type"],
)
def test_a_problem_reads_as_one_sentence(pulumi_mocks, config, problem):
    with pytest.raises(SettingsError) as caught:
        _load(pulumi_mocks, config)
    assert problem in caught.value.problems
