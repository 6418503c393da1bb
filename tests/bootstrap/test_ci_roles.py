"""The CI roles the bootstrap creates: who may assume each one, and what each may do."""

from __future__ import annotations

import json
import re
from functools import cache

import botocore.session
import pytest
import yaml
from ci_policies import CLOUD_CONTROL_ACTIONS, DEPLOY_SERVICES, deploy_policy
from ci_settings import BootstrapConfigError, validate

from tests.bootstrap.conftest import (
    BOOTSTRAP,
    GITHUB_PROVIDER_ARN,
    REPOSITORY,
    policy_allows,
    trust_admits,
)
from tests.pulumi_harness import ACCOUNT
from tests.resource_types import KEY, ROLE, ROLE_POLICY

PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
BUCKET = "octo-pulumi-state"
ALIAS = "aws:kms/alias:Alias"


def _token(environment: str | None = None, *, event: str = "push", ref: str = "refs/heads/main", sub: str = ""):
    """The claims GitHub puts in a job's OIDC token under the default subject template."""
    if environment:
        context = f"environment:{environment}"
    elif event == "pull_request":
        context = "pull_request"
    else:
        context = f"ref:{ref}"
    return {"aud": "sts.amazonaws.com", "sub": sub or f"repo:{REPOSITORY}:{context}"}


def _trust(run, role):
    return json.loads(run.one(ROLE, role).inputs["assumeRolePolicy"])


def _policy(run, role):
    role_name = run.one(ROLE, role).state["name"]
    (policy,) = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == role_name]
    return json.loads(policy.inputs["policy"])


@pytest.fixture
def run(run_bootstrap):
    return run_bootstrap({"githubRepository": REPOSITORY})


def test_outputs_are_the_two_role_arns_for_the_repository_variables(run):
    assert run.outputs["previewRoleArn"] == run.one(ROLE, "ci-preview").state["arn"]
    assert run.outputs["deployRoleArn"] == run.one(ROLE, "ci-deploy").state["arn"]
    assert run.outputs["previewRoleArn"] != run.outputs["deployRoleArn"]


def test_creates_githubs_oidc_provider_for_the_sts_audience(run):
    provider = run.one(PROVIDER)
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    for role in ("ci-preview", "ci-deploy"):
        (statement,) = _trust(run, role)["Statement"]
        assert statement["Principal"] == {"Federated": GITHUB_PROVIDER_ARN}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"


def test_deploy_role_trusts_only_jobs_in_the_deploy_environments_of_this_repository(run):
    trust = _trust(run, "ci-deploy")
    (statement,) = trust["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [
                f"repo:{REPOSITORY}:environment:dev",
                f"repo:{REPOSITORY}:environment:prod",
            ],
        }
    }
    assert trust_admits(trust, _token("dev"))
    assert trust_admits(trust, _token("prod"))
    for refused in (
        _token("preview"),
        _token(event="pull_request"),
        _token(ref="refs/heads/main"),  # a job on main without an environment
        _token("dev", sub="repo:octo-org/a-fork:environment:dev"),
        {"aud": "https://github.com/octo-org", "sub": f"repo:{REPOSITORY}:environment:dev"},
    ):
        assert not trust_admits(trust, refused), refused


def test_preview_role_trusts_only_the_preview_environment(run):
    trust = _trust(run, "ci-preview")
    assert trust_admits(trust, _token("preview"))
    for refused in (_token("dev"), _token("prod"), _token(event="pull_request"), _token(ref="refs/heads/main")):
        assert not trust_admits(trust, refused), refused


@pytest.mark.parametrize("config", [{}, {"stateBucket": BUCKET, "secretsKeys": True}], ids=["defaults", "s3-and-kms"])
def test_preview_role_may_change_nothing(run_bootstrap, config):
    policy = _policy(run_bootstrap({"githubRepository": REPOSITORY, **config}), "ci-preview")
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            verb = action.split(":")[1]
            assert "*" not in verb, action
            # apigateway:GET reads (API Gateway's actions are HTTP verbs), on the account settings alone.
            assert re.match(r"(Describe|List|Get)[A-Z]", verb) or action in ("kms:Decrypt", "apigateway:GET"), action
            if action == "apigateway:GET":
                assert statement["Resource"] == "arn:aws:apigateway:*::/account", statement
    for write in ("ec2:RunInstances", "iam:CreateRole", "sagemaker:CreateEndpoint", "s3:PutObject", "lambda:*"):
        assert not policy_allows(policy, write), write


def test_preview_role_reads_no_parameter_of_the_account(run):
    # The stack keeps its API key in an SSM SecureString; the program's preview reads no parameter at all.
    policy = _policy(run, "ci-preview")
    assert not policy_allows(policy, "ssm:GetParameter", f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/proxy-api-key")
    assert not any(policy_allows(policy, a, "*") for a in ("ssm:GetParameter", "ssm:GetParameters"))


def test_deploy_role_cannot_change_the_ci_identity(run):
    policy = _policy(run, "ci-deploy")
    protected = [run.outputs["previewRoleArn"], run.outputs["deployRoleArn"], run.outputs["oidcProviderArn"]]
    for arn in protected:
        for action in ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy"):
            assert not policy_allows(policy, action, arn), (action, arn)
    assert not policy_allows(policy, "iam:UpdateOpenIDConnectProviderThumbprint", run.outputs["oidcProviderArn"])
    # ...while the stack's own roles stay manageable.
    assert policy_allows(policy, "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/model-role-1a2b3c4")


def _state(key: str, prefix: str = "") -> str:
    return f"arn:aws:s3:::{BUCKET}/{prefix}{key}"


@pytest.mark.parametrize("prefix", ["", "teams/ml/"], ids=["bucket-root", "url-path"])
def test_preview_reads_only_the_dev_stacks_state_and_deploy_writes_the_state(run_bootstrap, prefix):
    config = {"githubRepository": REPOSITORY, "stateBucket": BUCKET, "statePrefix": prefix}
    run = run_bootstrap(config)
    preview, deploy = _policy(run, "ci-preview"), _policy(run, "ci-deploy")
    # What a preview of dev reads (pulumi/pulumi pkg/backend/diy): the backend's metadata and dev's checkpoint.
    for key in (".pulumi/meta.yaml", *(f".pulumi/stacks/sagemaker-llm/dev.json{ext}" for ext in ("", ".gz", ".zst"))):
        assert policy_allows(preview, "s3:GetObject", _state(key, prefix)), key
    assert policy_allows(preview, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}")
    # Not prod's checkpoint, nor anyone's history or backups (each holds the stack's secrets, encrypted).
    for key in (
        ".pulumi/stacks/sagemaker-llm/prod.json",
        ".pulumi/stacks/sagemaker-llm/dev2.json",
        ".pulumi/stacks/another-project/dev.json",
        ".pulumi/history/sagemaker-llm/prod/prod-1700000000000000000.checkpoint.json",
        ".pulumi/history/sagemaker-llm/dev/dev-1700000000000000000.checkpoint.json",
        ".pulumi/backups/sagemaker-llm/prod/prod.1700000000000000000.json",
    ):
        assert not policy_allows(preview, "s3:GetObject", _state(key, prefix)), key
    assert not policy_allows(preview, "s3:GetObject", _state(".pulumi/stacks/sagemaker-llm/dev.json", "other/"))
    assert not policy_allows(preview, "s3:PutObject", _state(".pulumi/stacks/sagemaker-llm/dev.json", prefix))
    assert not policy_allows(preview, "s3:GetObject", "arn:aws:s3:::another-bucket/.pulumi/meta.yaml")
    # The deploy role runs every stack: checkpoints, history, backups, locks, under the URL's path only.
    for key in (".pulumi/stacks/sagemaker-llm/prod.json", ".pulumi/locks/organization/sagemaker-llm/dev/x.json"):
        assert policy_allows(deploy, "s3:PutObject", _state(key, prefix)), key
        assert policy_allows(deploy, "s3:DeleteObject", _state(key, prefix)), key
    assert not policy_allows(deploy, "s3:PutObject", _state("elsewhere/x", prefix))


def test_preview_of_another_stack_reads_that_stacks_state(run_bootstrap):
    run = run_bootstrap({"githubRepository": REPOSITORY, "stateBucket": BUCKET, "previewStack": "prod"})
    preview = _policy(run, "ci-preview")
    assert policy_allows(preview, "s3:GetObject", _state(".pulumi/stacks/sagemaker-llm/prod.json"))
    assert not policy_allows(preview, "s3:GetObject", _state(".pulumi/stacks/sagemaker-llm/dev.json"))


def _key_arn(run, stack):
    return run.one(KEY, f"ci-secrets-{stack}").state["arn"]


def test_each_stack_gets_its_own_secrets_key_and_the_preview_decrypts_only_devs(run_bootstrap):
    run = run_bootstrap({"githubRepository": REPOSITORY, "secretsKeys": True})
    preview, deploy = _policy(run, "ci-preview"), _policy(run, "ci-deploy")
    dev, prod = _key_arn(run, "dev"), _key_arn(run, "prod")
    assert dev != prod
    assert policy_allows(preview, "kms:Decrypt", dev)
    assert not policy_allows(preview, "kms:Decrypt", prod)
    assert not policy_allows(preview, "kms:Encrypt", dev)
    for key in (dev, prod):
        assert all(policy_allows(deploy, a, key) for a in ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"))
    assert not policy_allows(deploy, "kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/someone-elses")
    for stack in ("dev", "prod"):
        key = run.one(KEY, f"ci-secrets-{stack}")
        assert key.inputs["enableKeyRotation"] is True
        alias = run.one(ALIAS, f"ci-secrets-{stack}")
        assert alias.inputs["name"] == f"alias/sagemaker-llm-{stack}"
        assert alias.inputs["targetKeyId"] == key.state["keyId"]
    assert run.outputs["secretsProviders"] == {
        "dev": "awskms://alias/sagemaker-llm-dev?region=us-east-1",
        "prod": "awskms://alias/sagemaker-llm-prod?region=us-east-1",
    }


def test_without_secrets_keys_no_key_is_made_and_no_role_may_use_kms(run):
    assert run.of_type(KEY) == [] and run.outputs["secretsProviders"] == {}
    for role in ("ci-preview", "ci-deploy"):
        assert not policy_allows(_policy(run, role), "kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/x")


@pytest.mark.parametrize("stack_file", sorted(BOOTSTRAP.parent.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_a_committed_stack_that_names_an_awskms_provider_names_its_own_key(stack_file):
    # `pulumi stack change-secrets-provider` writes the URL into Pulumi.<stack>.yaml; another stack's key there
    # would put this stack's secrets where the preview role cannot decrypt them, or prod's where it can.
    stack = stack_file.name.split(".")[1]
    provider = yaml.safe_load(stack_file.read_text()).get("secretsprovider", "")
    if provider.startswith("awskms://"):
        assert provider.split("?")[0] == f"awskms://alias/sagemaker-llm-{stack}", provider


def test_a_single_key_for_every_stack_is_refused(run_bootstrap):
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(BootstrapConfigError, match="kmsKeyArn: one key for every stack"):
        run_bootstrap({"githubRepository": REPOSITORY, "kmsKeyArn": key})


def test_deploy_role_manages_only_this_projects_ssm_parameters(run):
    policy = _policy(run, "ci-deploy")
    for name in ("sagemaker-llm/dev/proxy-api-key", "sagemaker-llm/prod/ui-admin-password"):
        arn = f"arn:aws:ssm:us-west-2:{ACCOUNT}:parameter/{name}"
        assert policy_allows(policy, "ssm:PutParameter", arn) and policy_allows(policy, "ssm:GetParameter", arn)
    for name in ("other-app/db-password", "sagemaker-llm-old/dev/x", "proxy-api-key"):
        arn = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/{name}"
        for action in ("ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"):
            assert not policy_allows(policy, action, arn), (action, name)


def test_existing_oidc_provider_is_reused_not_created(run_bootstrap):
    run = run_bootstrap({"githubRepository": REPOSITORY, "oidcProviderArn": GITHUB_PROVIDER_ARN})
    assert run.of_type(PROVIDER) == []
    assert run.outputs["oidcProviderArn"] == GITHUB_PROVIDER_ARN
    (statement,) = _trust(run, "ci-deploy")["Statement"]
    assert statement["Principal"] == {"Federated": GITHUB_PROVIDER_ARN}


def test_ref_in_the_subject_pins_deploys_to_the_main_branch(run_bootstrap):
    run = run_bootstrap({"githubRepository": REPOSITORY, "subjectIncludesRef": True})
    deploy, preview = _trust(run, "ci-deploy"), _trust(run, "ci-preview")
    main = f"repo:{REPOSITORY}:environment:dev:ref:refs/heads/main"
    assert trust_admits(deploy, _token(sub=main))
    assert not trust_admits(deploy, _token(sub=f"repo:{REPOSITORY}:environment:dev:ref:refs/heads/feature"))
    assert "StringLike" not in deploy["Statement"][0]["Condition"]  # no pattern can widen the deploy subject
    assert trust_admits(preview, _token(sub=f"repo:{REPOSITORY}:environment:preview:ref:refs/pull/42/merge"))
    assert not trust_admits(preview, _token(sub=f"repo:{REPOSITORY}:environment:dev:ref:refs/pull/42/merge"))


def test_immutable_subjects_carry_owner_and_repository_ids(run_bootstrap):
    run = run_bootstrap({"githubRepository": REPOSITORY, "githubOwnerId": "123456", "githubRepositoryId": "456789"})
    trust = _trust(run, "ci-deploy")
    assert trust_admits(trust, _token(sub="repo:octo-org@123456/sagemaker-llm@456789:environment:prod"))
    assert not trust_admits(trust, _token("prod"))


def test_custom_environments_are_the_only_ones_trusted(run_bootstrap):
    run = run_bootstrap({"githubRepository": REPOSITORY, "deployEnvironments": ["staging"], "previewStack": "staging"})
    assert trust_admits(_trust(run, "ci-deploy"), _token("staging"))
    assert not trust_admits(_trust(run, "ci-deploy"), _token("dev"))


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({}, "githubRepository"),
        ({"githubRepository": "https://github.com/octo-org/x"}, "githubRepository"),
        ({"deployEnvironments": ["dev", "preview"]}, "previewEnvironment"),
        ({"deployEnvironments": []}, "deployEnvironments"),
        ({"deployEnvironments": ["dev:ref:refs/heads/x"]}, "deployEnvironments"),
        ({"githubOwnerId": "123"}, "githubOwnerId"),
        ({"stateBucket": "s3://octo-pulumi-state"}, "stateBucket"),
        ({"statePrefix": "s3://octo-pulumi-state/x"}, "statePrefix"),
        ({"statePrefix": "teams/*"}, "statePrefix"),
        ({"previewStack": "staging"}, "previewStack"),
        ({"deployEnvironments": ["dev", "prod stack"]}, "deployEnvironments"),
        ({"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, "kmsKeyArn"),
        ({"oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/gitlab.com"}, "oidcProviderArn"),
    ],
)
def test_bad_config_is_refused_with_the_key_and_the_fix(config, key):
    defaults = {
        k: s["default"]
        for k, s in yaml.safe_load((BOOTSTRAP / "Pulumi.yaml").read_text())["config"].items()
        if "default" in s
    }
    values = {**defaults, "githubRepository": REPOSITORY, **config}
    if config == {}:
        del values["githubRepository"]
    with pytest.raises(BootstrapConfigError) as raised:
        validate(values)
    assert any(problem.startswith(key) for problem in raised.value.problems), raised.value.problems


def test_missing_repository_stops_the_program_with_a_message_not_a_traceback(run_bootstrap):
    with pytest.raises(BootstrapConfigError, match="pulumi config set githubRepository"):
        run_bootstrap({})


# -- The deploy role against what the main program really creates (the preview role: test_preview_actions) --

API_ONLY = {"uiEnabled": False, "modelId": "distilgpt2"}
# The committed stacks, and scaleToZero, whose inference component comes from the aws-native provider.
# (apiStreaming's REST API needs mock state its own tests add; its module is in DEPLOY_SERVICES.)
MAIN_CONFIGS = {
    "dev": None,
    "prod": None,
    "scale-to-zero": {**API_ONLY, "scaleToZero": True},
    "alarm-email": {"modelId": "distilgpt2", "alarmEmail": "ops@example.com"},  # SNS, EC2 alarm actions
}


@pytest.fixture(params=sorted(MAIN_CONFIGS))
def main_run(request, run_program, stack_config):
    return run_program(MAIN_CONFIGS[request.param] or stack_config(request.param))


def test_deploy_role_may_create_the_role_cloudwatch_runs_ec2_alarm_actions_with(run_program):
    # PutMetricAlarm with an EC2 action (the UI host's recover, reboot) creates AWSServiceRoleForCloudWatchEvents.
    run = run_program(MAIN_CONFIGS["alarm-email"])
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    actions = [action for alarm in alarms for action in alarm.inputs["alarmActions"]]
    assert any(":automate:" in action for action in actions)
    (linked,) = [s for s in deploy_policy("aws", ACCOUNT, [])["Statement"] if s.get("Sid") == "ServiceLinkedRoles"]
    assert "events.amazonaws.com" in linked["Condition"]["StringEquals"]["iam:AWSServiceName"]


# What a module's resources need that the deploy role grants by name rather than by service.
_NAMED_CREATE = {
    "aws:iam/role:Role": ("iam:CreateRole", "iam:PassRole"),
    "aws:iam/rolePolicy:RolePolicy": ("iam:PutRolePolicy",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam:AttachRolePolicy",),
    "aws:iam/instanceProfile:InstanceProfile": ("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"),
    "aws:ssm/parameter:Parameter": ("ssm:PutParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"),
}


def test_deploy_role_reaches_every_service_the_stack_creates_resources_in(main_run):
    run = main_run
    policy = deploy_policy("aws", ACCOUNT, [], "sagemaker-llm")
    for resource in run.resources:
        provider, module = resource.type.split(":")[0], resource.type.split(":")[1].split("/")[0]
        if provider not in ("aws", "aws-native"):
            continue  # components and the random provider call no AWS API
        assert module in DEPLOY_SERVICES, f"add the {module!r} module to DEPLOY_SERVICES in bootstrap/ci_policies.py"
        if provider == "aws-native":
            assert all(policy_allows(policy, a) for a in CLOUD_CONTROL_ACTIONS), resource.type
        if resource.type in _NAMED_CREATE:
            iam = module == "iam"
            arn = f"arn:aws:iam::{ACCOUNT}:role/x" if iam else resource.state["arn"]
            for action in _NAMED_CREATE[resource.type]:
                assert policy_allows(policy, action, arn), (resource.type, action)
        elif module not in ("iam", "ssm"):
            for service in DEPLOY_SERVICES[module]:
                assert policy_allows(policy, f"{service}:CreateAnything"), (resource.type, service)


# -- Every document is one IAM accepts, naming actions AWS has ----------------------------------------------

# IAM actions that are permissions only, with no API operation of the same name.
PERMISSION_ONLY = {"iam:PassRole", "s3:ListBucket", "apigateway:GET"}  # API Gateway's actions are HTTP verbs
# IAM prefixes whose operations botocore models under other service names.
BOTOCORE_SERVICES = {"cloudformation": ("cloudformation", "cloudcontrol")}


@cache
def _operations(prefix: str) -> frozenset[str]:
    session = botocore.session.get_session()
    services = BOTOCORE_SERVICES.get(prefix, (prefix,))
    assert set(services) <= set(session.get_available_services()), f"no AWS service {prefix!r}"
    return frozenset(op for s in services for op in session.get_service_model(s).operation_names)


def _documents(run):
    for role in run.of_type(ROLE):
        yield role.name, json.loads(role.inputs["assumeRolePolicy"])
    for policy in run.of_type(ROLE_POLICY):
        yield policy.name, json.loads(policy.inputs["policy"])


@pytest.mark.parametrize(
    "config",
    [{}, {"stateBucket": BUCKET, "statePrefix": "ml", "secretsKeys": True, "subjectIncludesRef": True}],
    ids=["defaults", "everything"],
)
def test_every_policy_document_is_valid_and_names_real_actions(run_bootstrap, config):
    run = run_bootstrap({"githubRepository": REPOSITORY, **config})
    documents = list(_documents(run))
    assert len(documents) == 4
    for name, document in documents:
        assert document["Version"] == "2012-10-17", name
        assert len(json.dumps(document, separators=(",", ":"))) <= 10240, name  # the inline policy size quota
        sids = [s["Sid"] for s in document["Statement"] if "Sid" in s]
        assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids), name
        for statement in document["Statement"]:
            assert statement["Effect"] in ("Allow", "Deny"), name
            assert ("Principal" in statement) == name.endswith(("preview", "deploy")), name
            assert "Resource" in statement or "Principal" in statement, name
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                prefix, verb = action.split(":")
                operations = _operations(prefix)
                if verb == "*" or action in PERMISSION_ONLY:
                    continue
                assert verb in operations, f"{name}: {action} is not an operation of {prefix}"


# -- docs/ci.md's set-up steps match the program -----------------------------------------------------------

CI_DOC = (BOOTSTRAP.parent / "docs" / "ci.md").read_text()


def test_ci_doc_sets_the_workflow_variables_from_the_bootstrap_outputs(run):
    commands = dict(re.findall(r"gh variable set (\w+) --body \"\$\(pulumi stack output (\w+)\)\"", CI_DOC))
    assert commands == {"AWS_ROLE_ARN": "deployRoleArn", "AWS_PREVIEW_ROLE_ARN": "previewRoleArn"}
    assert set(commands.values()) <= set(run.outputs)
    workflows = "".join(p.read_text() for p in (BOOTSTRAP.parent / ".github" / "workflows").glob("*.yml"))
    assert all(f"vars.{variable}" in workflows for variable in commands)


def test_ci_doc_lists_every_bootstrap_config_key():
    keys = set(yaml.safe_load((BOOTSTRAP / "Pulumi.yaml").read_text())["config"])
    listed = {
        key for row in re.findall(r"^\| (`[^|]+) \|", CI_DOC, flags=re.MULTILINE) for key in re.findall(r"`(\w+)`", row)
    }
    assert keys <= listed, keys - listed


# How docs/ci.md names each service the deploy role gets whole.
SERVICE_NAMES_IN_CI_DOC = {
    "sagemaker": "SageMaker",
    "lambda": "Lambda",
    "apigateway": "API Gateway",
    "logs": "CloudWatch Logs",
    "cloudwatch": "alarms",
    "sns": "SNS",
    "application-autoscaling": "Application Auto Scaling",
    "ec2": "EC2",
    "cloudfront": "CloudFront",
    "wafv2": "WAF",
}


def test_ci_doc_names_every_service_the_deploy_role_gets_whole():
    (whole,) = [s for s in deploy_policy("aws", ACCOUNT, [])["Statement"] if s.get("Sid") == "StackServices"]
    services = {action.split(":")[0] for action in whole["Action"]}
    assert services == set(SERVICE_NAMES_IN_CI_DOC), "name the new service in docs/ci.md and here"
    paragraph = " ".join(CI_DOC.split("**The deploy role is powerful")[1].split("\n-")[0].split())
    assert [name for name in SERVICE_NAMES_IN_CI_DOC.values() if name not in paragraph] == []
