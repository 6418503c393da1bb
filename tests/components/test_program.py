"""The program as a whole: component tree, stack outputs, secrets, default network, config errors."""

import ast
import dataclasses
import inspect

import pytest

from components.api_spec import ChatApiArgs
from components.chat_ui_host import ChatUiHostArgs
from components.model_endpoint import ModelEndpointArgs
from components.monitoring import MonitoringArgs
from components.proxy_function import ProxyFunctionArgs
from components.settings import SettingsError
from tests.pulumi_harness import ROOT

COMPONENTS = {
    "sagemaker-llm:index:ModelEndpoint",
    "sagemaker-llm:index:ProxyFunction",
    "sagemaker-llm:index:ChatApi",
    "sagemaker-llm:index:Monitoring",
}
API_ONLY = {"uiEnabled": False}


@pytest.mark.parametrize("ui_enabled", [False, True])
def test_every_resource_belongs_to_a_component_and_components_register_their_outputs(run_program, ui_enabled):
    run = run_program({"uiEnabled": ui_enabled, "modelId": "distilgpt2", "maxInstanceCount": 2})
    components = {r.urn: r for r in run.resources if not r.custom}
    expected = COMPONENTS | ({"sagemaker-llm:index:ChatUiHost"} if ui_enabled else set())
    assert {c.type for c in components.values()} == expected
    for resource in run.resources:
        if resource.custom:
            assert resource.parent in components, resource.name
            parent = components[resource.parent]
            assert resource.name.startswith(f"{parent.name}-"), resource.name
    for component in components.values():
        assert component.outputs, component.type
        assert None not in component.outputs.values(), component.type


def test_api_only_stack_exports_exactly_the_api_outputs(run_program):
    run = run_program({**API_ONLY, "modelId": "distilgpt2"})
    api_outputs = ("apiUrl", "apiKey", "endpointName", "servedModelName", "modelId", "models", "dashboardUrl")
    assert set(run.outputs) == set(api_outputs)
    assert run.secret_outputs == {"apiKey"}
    assert run.outputs["apiUrl"].startswith("https://")
    assert run.outputs["apiUrl"].endswith("/v1")


def test_the_served_model_name_is_exported_under_its_own_name_and_the_old_one(run_program):
    run = run_program({**API_ONLY, "modelId": "Qwen/Qwen2.5-1.5B-Instruct", "servedModelName": "qwen-chat"})
    assert run.outputs["servedModelName"] == "qwen-chat"
    # `modelId` the output kept its old meaning (the served name) for scripts that read it; modelId the key
    # is the Hugging Face id.
    assert run.outputs["modelId"] == "qwen-chat"


def test_full_stack_also_exports_the_ui_outputs_with_the_password_secret(run_program, stack_config):
    run = run_program(stack_config("dev"))
    assert set(run.outputs) == {
        "apiUrl",
        "apiKey",
        "endpointName",
        "servedModelName",
        "modelId",
        "models",
        "inferenceComponentName",  # the dev stack scales to zero: smoke and callers invoke the component
        "uiUrl",
        "uiAdminEmail",
        "uiAdminPassword",
        "dashboardUrl",
    }
    assert run.secret_outputs == {"apiKey", "uiAdminPassword"}


def test_default_vpc_is_looked_up_once_only_when_the_ui_needs_it(run_program, pulumi_mocks):
    run_program({**API_ONLY, "modelId": "distilgpt2"})
    assert not [c for c in pulumi_mocks.mocks.calls if c.token.startswith("aws:ec2/getVpc")]
    run_program({"modelId": "distilgpt2"})
    assert len([c for c in pulumi_mocks.mocks.calls if c.token == "aws:ec2/getVpc:getVpc"]) == 1
    assert len([c for c in pulumi_mocks.mocks.calls if c.token == "aws:ec2/getSubnets:getSubnets"]) == 1


def test_configured_vpc_and_subnet_are_used_without_a_lookup(run_program, pulumi_mocks):
    run = run_program(
        {"modelId": "distilgpt2", "vpcId": "vpc-0123456789abcdef0", "subnetId": "subnet-0123456789abcdef0"}
    )
    assert not [
        c for c in pulumi_mocks.mocks.calls if c.token in {"aws:ec2/getVpc:getVpc", "aws:ec2/getSubnets:getSubnets"}
    ]
    assert run.one("aws:ec2/instance:Instance").inputs["subnetId"] == "subnet-0123456789abcdef0"


def test_default_subnet_choice_is_stable(run_program):
    run = run_program({"modelId": "distilgpt2"})
    assert run.one("aws:ec2/instance:Instance").inputs["subnetId"] == "subnet-0aaaaaaaaaaaaaaaa"


def test_invalid_config_stops_the_program_before_any_resource(run_program, pulumi_mocks):
    with pytest.raises(SettingsError, match="instanceType"):
        run_program({**API_ONLY, "modelId": "distilgpt2", "instanceType": "ml.g5.xlarg"})
    assert pulumi_mocks.resources() == []


def test_main_builds_every_component_from_its_args_from_settings():
    built = set()
    for node in ast.walk(ast.parse((ROOT / "__main__.py").read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and f"{node.func.id}Args" in ARGS:
            args = node.args[1]
            assert isinstance(args, ast.Call), ast.unparse(node)
            assert ast.unparse(args.func) == f"{node.func.id}Args.from_settings", ast.unparse(node)
            assert ast.unparse(args.args[0]) == "settings", ast.unparse(node)
            built.add(node.func.id)
    assert {f"{name}Args" for name in built} == set(ARGS)


ARGS = {
    cls.__name__: cls for cls in (ModelEndpointArgs, ProxyFunctionArgs, ChatApiArgs, ChatUiHostArgs, MonitoringArgs)
}
# The only defaults an Args has: what no config key sets (Pulumi.yaml holds the stack's defaults, once).
UNCONFIGURED_DEFAULTS = {
    "ModelEndpointArgs": {"invocations_per_instance_target", "endpoint_name"},
    "ProxyFunctionArgs": {"key_parameter_name"},
    "ChatUiHostArgs": {"admin_password", "data_volume_gb"},
}


@pytest.mark.parametrize("name", list(ARGS))
def test_args_defaults_are_only_for_what_no_config_key_sets(name):
    cls = ARGS[name]
    defaulted = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert defaulted == UNCONFIGURED_DEFAULTS.get(name, set())
    from_settings = inspect.getsource(cls.from_settings)
    assert not [field for field in defaulted if f"{field}=" in from_settings]
