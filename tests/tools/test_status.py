"""`smoke status --stack`: the stack's health on one screen, against moto (CloudWatch, SageMaker endpoints) and a
local fake of SageMaker's control plane for what moto lacks (DescribeInferenceComponent)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
import pytest
from moto import mock_aws

from components.dashboard import dashboard_url
from openai_proxy.request_metrics import NAMESPACE
from tests.fakes import FAKE_AWS
from tests.fakes.sagemaker_control import FakeSageMakerControl
from tools import smoke, status

ENDPOINT = "sagemaker-llm-dev"
COMPONENT = "sagemaker-llm-dev-model"
MODEL = "distilgpt2"
OUTPUTS = {
    "apiUrl": "https://abc.execute-api.us-east-1.amazonaws.com/api/v1",
    "apiKey": "k",
    "endpointName": ENDPOINT,
    "modelId": MODEL,
    "dashboardUrl": dashboard_url("us-east-1", "sagemaker-llm-dev"),
}


@pytest.fixture
def aws(monkeypatch):
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_CLOUDWATCH"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


@pytest.fixture
def stack(tmp_path, monkeypatch):
    """A `pulumi` on PATH that prints the stack's outputs, as `pulumi stack output --json` does."""

    def with_outputs(outputs: dict) -> None:
        cli = tmp_path / "pulumi"
        cli.write_text(f"#!/bin/sh\ncat <<'JSON'\n{json.dumps(outputs)}\nJSON\n")
        cli.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")

    return with_outputs


def _endpoint_in_moto() -> None:
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    role = "arn:aws:iam::123456789012:role/sagemaker"
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer={"Image": "x"})
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InstanceType": "ml.g4dn.xlarge",
        "InitialInstanceCount": 2,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="c")


def _alarm(name: str, state: str, description: str = "what it means, what to do") -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        AlarmDescription=description,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=3,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def _proxy_lines(requests: list[dict], *, ago: timedelta = timedelta(minutes=5)) -> None:
    """What CloudWatch extracts from the proxy's EMF lines: one datum per metric per request."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    dimensions = [{"Name": "endpoint", "Value": ENDPOINT}, {"Name": "model", "Value": MODEL}]
    for request in requests:
        data = [
            {"MetricName": k, "Dimensions": dimensions, "Value": v, "Timestamp": datetime.now(UTC) - ago}
            for k, v in request.items()
        ]
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)


def _screen(capsys) -> tuple[dict[str, str], str]:
    out, err = capsys.readouterr()
    rows = {line.split(maxsplit=1)[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    return rows, out + err


def test_a_healthy_stack_shows_its_endpoint_quiet_alarms_last_hour_and_dashboard(aws, stack, capsys):
    _endpoint_in_moto()
    _alarm("sagemaker-llm-dev-api-5xx", "OK")
    _proxy_lines(
        [
            {"latency_ms": 900, "errors": 0, "prompt_tokens": 20, "completion_tokens": 100},
            {"latency_ms": 1200, "errors": 0, "prompt_tokens": 30, "completion_tokens": 200},
            {"latency_ms": 50, "errors": 1},
        ]
    )
    _proxy_lines([{"latency_ms": 1, "prompt_tokens": 1000}], ago=timedelta(hours=3))  # not the last hour
    stack(OUTPUTS)

    code = smoke.main(["status", "--stack", "dev"])

    rows, everything = _screen(capsys)
    assert code == 0, everything
    assert rows["endpoint"].split()[1:] == [ENDPOINT, "InService", "instances", "2", "(desired", "2)"]
    assert rows["alarms"].endswith("none in ALARM")
    assert "requests 3, errors 1, tokens in 50, tokens out 300" in rows["last"]
    assert rows["dashboard"].split()[1] == OUTPUTS["dashboardUrl"]


def test_alarms_in_alarm_are_listed_with_what_to_do_and_make_it_exit_1(aws, stack, capsys):
    _endpoint_in_moto()
    _alarm("sagemaker-llm-dev-model-5xx", "ALARM", "The model answered 5xx errors: read the endpoint's log group.")
    _alarm("sagemaker-llm-dev-proxy-errors", "OK")
    _alarm("sagemaker-llm-prod-model-5xx", "ALARM")  # another stack's
    stack(OUTPUTS)

    code = smoke.main(["status", "--stack", "dev"])

    rows, everything = _screen(capsys)
    assert code == 1
    assert rows["alarms"].endswith("1 in ALARM")
    assert "  sagemaker-llm-dev-model-5xx: The model answered 5xx errors" in everything
    assert "prod" not in everything
    assert "needs a look: sagemaker-llm-dev-model-5xx" in everything


def test_progress_notes_go_to_stderr_and_the_screen_to_stdout(aws, stack, capsys):
    _endpoint_in_moto()
    stack(OUTPUTS)
    smoke.main(["status", "--stack", "dev"])
    out, err = capsys.readouterr()
    assert "asking SageMaker in us-east-1" in err and "asking CloudWatch" in err
    assert "asking" not in out and out.startswith("model")


def test_a_stack_scaled_to_zero_shows_its_component_s_copies(aws, stack, monkeypatch, capsys):
    control = FakeSageMakerControl()
    control.add_endpoint(ENDPOINT, instances=0, desired=0)
    control.add_component(COMPONENT, ENDPOINT, copies=0)
    with control.serving() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", url)
        stack({**OUTPUTS, "inferenceComponentName": COMPONENT})
        code = smoke.main(["status", "--stack", "dev"])

    rows, everything = _screen(capsys)
    assert code == 0, everything
    assert control.calls == ["DescribeEndpoint", "DescribeInferenceComponent"]
    assert "instances 0 (desired 0)" in rows["endpoint"]
    assert f"{COMPONENT}  InService  copies 0 (desired 0)" in rows["component"]
    assert "scaled to zero" in rows["component"]


def test_a_component_that_failed_needs_a_look(aws, stack, monkeypatch, capsys):
    control = FakeSageMakerControl()
    control.add_endpoint(ENDPOINT)
    control.add_component(COMPONENT, ENDPOINT, status="Failed", copies=0)
    with control.serving() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", url)
        stack({**OUTPUTS, "inferenceComponentName": COMPONENT})
        assert smoke.main(["status", "--stack", "dev"]) == 1
    assert "needs a look: inference component Failed" in capsys.readouterr().out


def test_a_missing_endpoint_is_a_row_not_a_traceback(aws, stack, capsys):
    stack(OUTPUTS)
    assert smoke.main(["status", "--stack", "dev"]) == 1
    rows, everything = _screen(capsys)
    assert rows["endpoint"].endswith("not found")
    assert "Traceback" not in everything


def test_aws_out_of_reach_is_one_line_and_exit_2(stack, monkeypatch, capsys):
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    stack(OUTPUTS)
    assert smoke.main(["status", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "smoke: AWS could not be asked" in err and "Traceback" not in err


def test_no_aws_credentials_is_one_line_saying_how_to_give_them_and_exit_2(stack, monkeypatch, tmp_path, capsys):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role either
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # should credentials turn up, AWS is not asked
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # one an earlier test made keeps its credentials
    stack(OUTPUTS)
    assert smoke.main(["status", "--stack", "dev"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = [line for line in err.splitlines() if line.startswith("smoke:")]
    assert line == "smoke: no AWS credentials: set AWS_PROFILE or run `aws configure` (or `aws sso login`)"
    assert "Traceback" not in err


@pytest.mark.parametrize("printed", ["[]", '"sagemaker-llm-dev"', "not json"])
def test_outputs_that_are_not_an_object_are_one_line_and_exit_2(stack, tmp_path, printed, capsys):
    stack({})
    (tmp_path / "pulumi").write_text(f"#!/bin/sh\necho '{printed}'\n")
    assert smoke.main(["status", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "smoke: pulumi stack output printed no JSON object for stack 'dev'" in err
    assert "Traceback" not in err


def test_a_dashboard_url_that_is_not_text_says_to_run_pulumi_up(stack, capsys):
    stack({**OUTPUTS, "dashboardUrl": 5})
    assert smoke.main(["status", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "pulumi up" in err and "Traceback" not in err


def test_without_the_pulumi_cli_status_does_not_offer_options_it_lacks(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi there
    assert smoke.main(["status", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "needs the Pulumi CLI on PATH" in err
    assert "--url" not in err  # `smoke status` has no --url/--key/--name


def test_a_stack_without_a_dashboard_says_what_to_do(stack, capsys):
    stack({k: v for k, v in OUTPUTS.items() if k != "dashboardUrl"})
    assert smoke.main(["status", "--stack", "dev"]) == 2
    assert "pulumi up" in capsys.readouterr().err


def test_the_dashboard_url_names_the_region_and_the_alarms_prefix():
    assert status.dashboard_place(dashboard_url("eu-west-1", "sagemaker-llm-prod")) == (
        "eu-west-1",
        "sagemaker-llm-prod",
    )


def test_the_fake_answers_only_with_fields_sagemaker_s_api_model_has():
    model = botocore.session.get_session().get_service_model("sagemaker")
    control = FakeSageMakerControl()
    control.add_endpoint(ENDPOINT)
    control.add_component(COMPONENT, ENDPOINT)
    for operation, body in (
        ("DescribeEndpoint", {"EndpointName": ENDPOINT}),
        ("DescribeInferenceComponent", {"InferenceComponentName": COMPONENT}),
    ):
        shape = model.operation_model(operation).output_shape
        _, answer = control.answer(operation, body)
        assert set(answer) <= set(shape.members), operation
        assert set(shape.required_members) <= set(answer), operation
    runtime = model.operation_model("DescribeInferenceComponent").output_shape.members["RuntimeConfig"]
    assert set(control.components[COMPONENT]["RuntimeConfig"]) <= set(runtime.members)
