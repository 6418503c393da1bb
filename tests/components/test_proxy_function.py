"""ProxyFunction: the Lambda's code, environment and API key are what the proxy and its callers expect."""

import json
import zipfile

import botocore.session
import pulumi
import pytest
from botocore.stub import Stubber

from components import aws_reads
from components.proxy_function import (
    HANDLER,
    PROXY_PACKAGE,
    ConcurrencyQuotaError,
    check_reserved_concurrency,
    package_files,
    proxy_archive,
    proxy_environment,
)
from openai_proxy.config import load_settings
from openai_proxy.contract import BUFFERED_DEADLINE_SECONDS, STREAMING_DEADLINE_SECONDS
from tests.resource_types import FUNCTION

PARAMETER = "aws:ssm/parameter:Parameter"
PROXY_CONTRACT = {
    "SAGEMAKER_ENDPOINT_NAME",
    "SERVED_MODEL_NAME",
    "MODEL_ID",
    "BACKEND_DIALECT",
    "API_KEY_PARAMETER",
    "MAX_OUTPUT_TOKENS",
    "REQUEST_DEADLINE_SECONDS",
}
# The buffered handler; streaming: test_proxy_function_streaming.py
API_ONLY = {"uiEnabled": False, "apiStreaming": False}


@pytest.fixture
def run(cached_run):
    return cached_run({**API_ONLY, "modelId": "distilgpt2", "maxOutputTokens": 512})


def _env(run):
    return run.one(FUNCTION).inputs["environment"]["variables"]


def test_lambda_environment_is_the_proxy_contract(run):
    env = _env(run)
    assert set(env) == PROXY_CONTRACT
    assert env["SAGEMAKER_ENDPOINT_NAME"] == run.outputs["endpointName"]
    # The old name too, for the code of before while a `pulumi up` updates the configuration, then the code.
    assert env["SERVED_MODEL_NAME"] == env["MODEL_ID"] == "distilgpt2"
    assert env["BACKEND_DIALECT"] == "openai"
    assert env["API_KEY_PARAMETER"] == run.one(PARAMETER).inputs["name"]
    assert env["MAX_OUTPUT_TOKENS"] == "512"
    # The proxy must answer before the gateway's 30 s cut, and the function must outlive that deadline.
    assert float(env["REQUEST_DEADLINE_SECONDS"]) < run.one(FUNCTION).inputs["timeout"] <= 30


def test_the_proxy_accepts_the_environment_it_is_given(run):
    from openai_proxy.config import load_settings

    settings = load_settings(_env(run))
    assert settings.problems == ()
    assert settings.auth_mode == "ssm"


def test_the_environment_is_a_pure_function_of_values_the_proxy_reads_back():
    values = {
        "endpoint_name": "ep",
        "served_model_name": "house/model",
        "dialect": "tgi",
        "max_output_tokens": 77,
        "api_key_parameter": "/stack/proxy/api-key",
        "chat_stop_sequences": ("\nUser:",),
        "inference_component_name": "ep-base",
    }
    buffered = load_settings(proxy_environment(**values))
    assert buffered.problems == ()
    assert (buffered.endpoint_name, buffered.served_model_name, buffered.dialect.name) == ("ep", "house/model", "tgi")
    assert (buffered.max_output_tokens, buffered.api_key_parameter) == (77, "/stack/proxy/api-key")
    assert (buffered.chat_stop_sequences, buffered.inference_component_name) == (("\nUser:",), "ep-base")
    assert (buffered.response_streaming, buffered.deadline_seconds) == (False, BUFFERED_DEADLINE_SECONDS)
    streaming = load_settings(proxy_environment(**values, response_streaming=True))
    assert (streaming.response_streaming, streaming.deadline_seconds) == (True, STREAMING_DEADLINE_SECONDS)


def test_lambda_runs_the_proxy_handler_on_arm64_with_a_current_python(run):
    function = run.one(FUNCTION).inputs
    assert function["handler"] == HANDLER == "openai_proxy.handler.handler"
    assert function["architectures"] == ["arm64"]
    assert function["runtime"].startswith("python3.")
    assert (
        function["loggingConfig"]["logGroup"]
        == run.one("aws:cloudwatch/logGroup:LogGroup", "proxy-logs").inputs["name"]
    )


def test_packaged_archive_holds_the_proxy_package_and_nothing_else(run, tmp_path):
    archive = run.one(FUNCTION).inputs["code"]
    assert isinstance(archive, pulumi.AssetArchive)
    names = set(archive.assets)
    assert names == {f"openai_proxy/{p.relative_to(PROXY_PACKAGE).as_posix()}" for p in package_files()}
    assert "openai_proxy/__init__.py" in names
    assert "openai_proxy/handler.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") or "/test" in n for n in names)


def test_packaging_skips_caches_tests_and_hidden_files(tmp_path):
    package = tmp_path / "openai_proxy"
    for relative in [
        "__init__.py",
        "handler.py",
        "__pycache__/handler.cpython-311.pyc",
        "tests/test_handler.py",
        "test_routes.py",
        ".DS_Store",
    ]:
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text("")
    assert set(proxy_archive(package).assets) == {"openai_proxy/__init__.py", "openai_proxy/handler.py"}


def test_generated_api_key_is_stored_as_a_securestring_and_exported_as_a_secret(run):
    parameter = run.one(PARAMETER)
    assert parameter.inputs["type"] == "SecureString"
    assert parameter.inputs["value"] == run.outputs["apiKey"]
    assert len(run.outputs["apiKey"]) >= 32
    assert "apiKey" in run.secret_outputs
    password = run.one("random:index/randomPassword:RandomPassword").inputs
    assert password["special"] is False  # a key people paste into headers and shells


def test_configured_api_key_is_used_and_nothing_is_generated(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "apiKey": "sk-configured-key-7c1e5a9d3b2f4e6a8c0d"})
    assert run.of_type("random:index/randomPassword:RandomPassword") == []
    assert run.one(PARAMETER).inputs["value"] == "sk-configured-key-7c1e5a9d3b2f4e6a8c0d"
    assert run.outputs["apiKey"] == "sk-configured-key-7c1e5a9d3b2f4e6a8c0d"
    assert "apiKey" in run.secret_outputs


def test_api_key_is_never_stored_in_clear_text(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "apiKey": "sk-configured-key-7c1e5a9d3b2f4e6a8c0d"})
    for resource in run.resources:
        assert "sk-configured-key-7c1e5a9d3b2f4e6a8c0d" not in resource.clear_text(), resource.name


def test_proxy_offers_the_ui_host_its_key_parameter(run):
    proxy = run.one("sagemaker-llm:index:ProxyFunction")
    parameter = run.one(PARAMETER)
    assert proxy.outputs["api_key_parameter_name"] == parameter.inputs["name"] == "/sagemaker-llm/test/proxy/api-key"
    assert proxy.outputs["api_key_parameter_arn"] == parameter.state["arn"]


def test_logs_expire_after_the_configured_retention(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "logRetentionDays": 30})
    assert run.one("aws:cloudwatch/logGroup:LogGroup", "proxy-logs").inputs["retentionInDays"] == 30


def test_archive_zips_like_lambda_expects(tmp_path):
    # What Pulumi uploads is a zip of these paths: the handler module must sit at openai_proxy/handler.py.
    with zipfile.ZipFile(tmp_path / "code.zip", "w") as bundle:
        for name, asset in proxy_archive().assets.items():
            bundle.write(asset.path, name)
    with zipfile.ZipFile(tmp_path / "code.zip") as bundle:
        assert "openai_proxy/handler.py" in bundle.namelist()


def test_chat_stop_sequences_reach_the_proxy_as_a_json_array(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "chatStopSequences": ["\nUser:", "###"]})
    assert json.loads(_env(run)["STOP_SEQUENCES"]) == ["\nUser:", "###"]


def test_no_stop_sequences_no_variable(run):
    assert "STOP_SEQUENCES" not in _env(run)


def test_dev_stack_stops_distilgpt2_at_the_next_user_turn(run_program, stack_config):
    run = run_program({**stack_config("dev"), "sagemaker-llm:uiEnabled": False})
    assert json.loads(_env(run)["STOP_SEQUENCES"]) == ["\nUser:"]


def test_reserved_concurrency_caps_what_the_api_can_take_of_the_account(run_program, run):
    assert run.one(FUNCTION).inputs["reservedConcurrentExecutions"] == 20  # Pulumi.yaml's default
    capped = run_program({**API_ONLY, "modelId": "distilgpt2", "apiMaxConcurrency": 5})
    assert capped.one(FUNCTION).inputs["reservedConcurrentExecutions"] == 5


def test_zero_reserves_no_concurrency(run_program):
    # Lambda's 0 would throttle every request; -1 is "no reservation".
    run = run_program({**API_ONLY, "modelId": "distilgpt2", "apiMaxConcurrency": 0})
    assert run.one(FUNCTION).inputs["reservedConcurrentExecutions"] == -1


@pytest.mark.parametrize("preview", [True, False], ids=["preview", "up --skip-preview"])
def test_a_quota_too_small_for_the_reservation_stops_preview_and_up_before_anything_is_created(
    run_program, pulumi_mocks, monkeypatch, preview
):
    # A new account's quota may be 10: the reservation would fail half-way through `up`, after the endpoint.
    # pulumi/actions deploys with `up --skip-preview`, so the check must not wait for a preview.
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: preview)
    asked = []
    monkeypatch.setattr(aws_reads, "lambda_concurrency_limit", lambda region: asked.append(region) or 10)
    with pytest.raises(ConcurrencyQuotaError) as caught:
        run_program({**API_ONLY, "modelId": "distilgpt2"})
    message = str(caught.value)
    assert asked == ["us-east-1"]
    assert "quota in us-east-1 is 10" in message
    assert "at least 120" in message
    assert "pulumi config set apiMaxConcurrency 0" in message
    assert [r.type for r in pulumi_mocks.resources() if r.custom] == []  # no role, log group or endpoint left behind


def test_without_a_reservation_the_quota_is_not_read(run_program, monkeypatch):
    monkeypatch.setattr(aws_reads, "lambda_concurrency_limit", lambda region: pytest.fail("read the quota"))
    run_program({**API_ONLY, "modelId": "distilgpt2", "apiMaxConcurrency": 0})


@pytest.mark.parametrize(("limit", "requested"), [(1000, 20), (120, 20), (None, 20)])
def test_a_quota_that_fits_or_cannot_be_read_lets_the_deploy_go_on(limit, requested):
    check_reserved_concurrency(requested, limit, "us-east-1")


def test_the_quota_is_read_from_lambda_s_account_settings():
    client = botocore.session.get_session().create_client(
        "lambda", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stub:
        stub.add_response("get_account_settings", {"AccountLimit": {"ConcurrentExecutions": 50}})
        stub.add_client_error("get_account_settings", "AccessDeniedException", "not allowed")
        assert aws_reads.lambda_concurrency_limit("us-east-1", client) == 50
        assert aws_reads.lambda_concurrency_limit("us-east-1", client) is None


@pytest.mark.parametrize(("stack", "parser", "stops"), [("dev", "", ("\nUser:",)), ("prod", "hermes", ())])
def test_the_proxy_reads_the_committed_stacks_tool_parser_and_stops_as_configured(
    run_program, stack_config, stack, parser, stops
):
    from openai_proxy.config import load_settings

    run = run_program({**stack_config(stack), "sagemaker-llm:uiEnabled": False})
    settings = load_settings(_env(run))
    assert settings.problems == ()
    assert (settings.tool_call_parser, settings.chat_stop_sequences) == (parser, stops)


def test_the_program_s_own_reads_name_real_iam_actions():
    # bootstrap's CI roles grant these; a misspelt action would be granted and never match.
    session = botocore.session.get_session()
    for action in aws_reads.READ_ACTIONS:
        service, operation = action.split(":")
        assert operation in session.get_service_model(service).operation_names, action
