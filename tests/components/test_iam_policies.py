"""Every IAM policy the stack creates, parsed: least privilege, scoped to the exact resources."""

import json
import subprocess

import pytest

from components.iam import POLICY_VERSION
from tests.pulumi_harness import ROOT
from tests.resource_types import ROLE_POLICY

# Actions AWS offers no resource-level scoping for.
UNSCOPABLE = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    *(f"ssmmessages:{verb}{channel}Channel" for verb in ("Create", "Open") for channel in ("Control", "Data")),
}


@pytest.fixture
def run(cached_run, stack_config):
    # The dev stack with the UI host on: every component's policies are checked together.
    return cached_run(stack_config("dev"))


def _statements(policy):
    document = json.loads(policy.inputs["policy"])
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _policy_of(run, role_name):
    role = run.one("aws:iam/role:Role", role_name)
    (policy,) = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == role.state["name"]]
    return policy


def test_no_policy_allows_a_wildcard_action_or_full_access(run):
    policies = run.of_type(ROLE_POLICY)
    assert policies
    for policy in policies:
        for statement in _statements(policy):
            for action in _as_list(statement["Action"]):
                assert "*" not in action, (policy.name, action)
    attachments = run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert not any("FullAccess" in a.inputs["policyArn"] for a in attachments)
    assert not any(
        "inlinePolicies" in r.inputs or "managedPolicyArns" in r.inputs for r in run.of_type("aws:iam/role:Role")
    )


def test_wildcard_resources_only_where_aws_offers_no_scoping(run):
    for policy in run.of_type(ROLE_POLICY):
        for statement in _statements(policy):
            if "*" in _as_list(statement["Resource"]):
                assert set(_as_list(statement["Action"])) <= UNSCOPABLE, (policy.name, statement)


def test_proxy_may_invoke_exactly_this_endpoint(run):
    endpoint_arn = run.one("aws:sagemaker/endpoint:Endpoint").state["arn"]
    # With scaleToZero (the dev stack) the proxy invokes the endpoint's inference component too.
    components = [c.state["inferenceComponentArn"] for c in run.of_type("aws-native:sagemaker:InferenceComponent")]
    statements = _statements(_policy_of(run, "proxy-role"))
    invoke = [s for s in statements if any(a.startswith("sagemaker:") for a in _as_list(s["Action"]))]
    assert invoke == [
        {
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
            "Resource": [endpoint_arn, *components] if components else endpoint_arn,
        }
    ]


def test_key_readers_may_read_exactly_the_key_parameter(run):
    parameter_arn = run.one("aws:ssm/parameter:Parameter", "proxy-api-key").state["arn"]
    for role in ("proxy-role",):
        ssm = [
            s for s in _statements(_policy_of(run, role)) if any(a.startswith("ssm:") for a in _as_list(s["Action"]))
        ]
        assert ssm == [{"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn}]
    # The UI host reads the same parameter through the statement the proxy gives it.
    ui_reads = [s for p in run.of_type(ROLE_POLICY) for s in _statements(p) if parameter_arn in _as_list(s["Resource"])]
    assert len(ui_reads) >= 2
    assert all(_as_list(s["Action"]) == ["ssm:GetParameter"] for s in ui_reads)


def test_proxy_writes_only_its_own_logs(run):
    log_group_arn = run.one("aws:cloudwatch/logGroup:LogGroup", "proxy-logs").state["arn"]
    logs = [s for s in _statements(_policy_of(run, "proxy-role")) if _as_list(s["Action"])[0].startswith("logs:")]
    assert logs == [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        }
    ]


def test_endpoint_role_pulls_only_the_serving_image_repository(run):
    statements = {s.get("Sid"): s for s in _statements(_policy_of(run, "model-role"))}
    assert statements["PullServingImage"]["Resource"] == "arn:aws:ecr:us-east-1:763104351884:repository/vllm"
    log_group_arn = run.one("aws:cloudwatch/logGroup:LogGroup", "model-logs").state["arn"]
    assert set(statements["WriteEndpointLogs"]["Resource"]) == {log_group_arn, f"{log_group_arn}:*"}
    assert "ReadModelWeights" not in statements


def test_endpoint_role_reads_exactly_the_weights_prefix(run_program):
    run = run_program({"uiEnabled": False, "modelDataUri": "s3://my-models/tuned/llama-ft/"})
    statements = {s.get("Sid"): s for s in _statements(_policy_of(run, "model-role"))}
    assert statements["ReadModelWeights"]["Action"] == "s3:GetObject"
    assert statements["ReadModelWeights"]["Resource"] == "arn:aws:s3:::my-models/tuned/llama-ft/*"
    assert statements["ListModelWeights"]["Resource"] == "arn:aws:s3:::my-models"
    assert statements["ListModelWeights"]["Condition"] == {
        "StringLike": {"s3:prefix": ["tuned/llama-ft/", "tuned/llama-ft/*"]}
    }


def test_roles_are_assumable_only_by_their_service(run):
    expected = {"model-role": "sagemaker.amazonaws.com", "proxy-role": "lambda.amazonaws.com"}
    for name, service in expected.items():
        trust = json.loads(run.one("aws:iam/role:Role", name).inputs["assumeRolePolicy"])
        (statement,) = trust["Statement"]
        assert statement["Principal"] == {"Service": service}
        assert statement["Action"] == "sts:AssumeRole"


def _trust_statement(run, role_name):
    (statement,) = json.loads(run.one("aws:iam/role:Role", role_name).inputs["assumeRolePolicy"])["Statement"]
    return statement


def test_sagemaker_assumes_the_endpoint_role_only_for_this_account_s_resources_in_this_region(run):
    # SageMaker developer guide, "Cross-service confused deputy prevention", SageMaker AI Inference.
    assert _trust_statement(run, "model-role")["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:123456789012:*"}
    }


def test_lambda_assumes_the_proxy_role_only_for_this_account(run):
    assert _trust_statement(run, "proxy-role")["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_weights_in_a_kms_encrypted_bucket_are_decrypted_only_through_s3(run_program):
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    run = run_program({"uiEnabled": False, "modelDataUri": "s3://my-models/llama-ft/", "modelDataKmsKeyArn": key})
    statements = {s.get("Sid"): s for s in _statements(_policy_of(run, "model-role"))}
    assert statements["DecryptModelWeights"] == {
        "Sid": "DecryptModelWeights",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
    }


def test_no_kms_permission_without_a_key(run_program):
    run = run_program({"uiEnabled": False, "modelDataUri": "s3://my-models/llama-ft/"})
    actions = [a for s in _statements(_policy_of(run, "model-role")) for a in _as_list(s["Action"])]
    assert not any(a.startswith("kms:") for a in actions)


def test_policy_documents_are_written_by_the_iam_module_alone():
    """The stack's and bootstrap's roles take their documents from components/iam.py: no other source spells one."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sources = [name for name in listed if not name.startswith("tests/") and (ROOT / name).is_file()]
    assert [name for name in sources if POLICY_VERSION in (ROOT / name).read_text()] == ["components/iam.py"]


def test_api_gateway_assumes_its_logging_role_without_a_condition(run):
    # API Gateway documents no aws:SourceAccount / aws:SourceArn condition for its CloudWatch role.
    assert _trust_statement(run, "api-cloudwatch-role") == {
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
