"""Rolling a change out: a rolled-back blue/green update fails `pulumi up`; an instance-type change takes the
variant out of autoscaling before the endpoint is updated."""

import botocore.session
import pytest
from botocore.stub import Stubber

from components import endpoint_rollout
from components.endpoint_rollout import EndpointRolledBackError, endpoint_failure_reason
from tests.resource_types import CONFIG, ENDPOINT, FUNCTION, POLICY, TARGET

MARKER = "random:index/randomId:RandomId"
API_ONLY = {"uiEnabled": False, "modelId": "distilgpt2"}
HEALTH_CHECK_FAILED = (
    "The primary container for production variant AllTraffic did not pass the ping health check. "
    "Please check CloudWatch logs for this endpoint."
)


def _rolled_back_endpoint(args, name):
    # What the provider reads back after SageMaker rolled the update back: the previous configuration.
    return {
        "arn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}",
        "endpointConfigName": "model-config-old",
    }


def test_a_rolled_back_update_fails_with_the_failure_reason_and_the_log_group(run_program, pulumi_mocks, monkeypatch):
    pulumi_mocks.mocks.computed[ENDPOINT] = _rolled_back_endpoint
    asked = []
    monkeypatch.setattr(
        endpoint_rollout,
        "endpoint_failure_reason",
        lambda name, region: asked.append((name, region)) or HEALTH_CHECK_FAILED,
    )
    with pytest.raises(EndpointRolledBackError) as caught:
        run_program(API_ONLY)
    message = str(caught.value)
    new_config = next(r for r in pulumi_mocks.resources() if r.type == CONFIG).state["name"]
    assert f"did not switch to its new configuration {new_config}" in message
    assert "still serves model-config-old" in message
    assert HEALTH_CHECK_FAILED in message
    assert "/aws/sagemaker/Endpoints/sagemaker-llm-test" in message
    assert asked == [("sagemaker-llm-test", "us-east-1")]
    # The proxy is never pointed at a model the live container doesn't serve.
    assert [r for r in pulumi_mocks.resources() if r.type == FUNCTION] == []


def test_a_rollback_still_fails_when_the_failure_reason_cannot_be_read(run_program, pulumi_mocks, monkeypatch):
    pulumi_mocks.mocks.computed[ENDPOINT] = _rolled_back_endpoint
    monkeypatch.setattr(endpoint_rollout, "endpoint_failure_reason", lambda name, region: None)
    with pytest.raises(EndpointRolledBackError, match="not readable here"):
        run_program(API_ONLY)


def test_an_update_that_took_effect_passes_without_asking_sagemaker(run_program, monkeypatch):
    monkeypatch.setattr(endpoint_rollout, "endpoint_failure_reason", lambda *a: pytest.fail("asked SageMaker"))
    run = run_program(API_ONLY)
    assert run.one(ENDPOINT).state["endpointConfigName"] == run.one(CONFIG).state["name"]
    assert run.one(FUNCTION).inputs["environment"]["variables"]["SAGEMAKER_ENDPOINT_NAME"] == "sagemaker-llm-test"


def _sagemaker_client():
    session = botocore.session.get_session()
    return session.create_client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def test_failure_reason_is_read_from_describe_endpoint():
    client = _sagemaker_client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": "sagemaker-llm-dev",
                "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/sagemaker-llm-dev",
                "EndpointConfigName": "model-config-old",
                "EndpointStatus": "InService",
                "FailureReason": HEALTH_CHECK_FAILED,
                "CreationTime": "2026-01-01T00:00:00Z",
                "LastModifiedTime": "2026-01-01T00:00:00Z",
            },
            {"EndpointName": "sagemaker-llm-dev"},
        )
        assert endpoint_failure_reason("sagemaker-llm-dev", "us-east-1", client) == HEALTH_CHECK_FAILED


def test_an_unreadable_failure_reason_is_none_not_a_traceback():
    client = _sagemaker_client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_endpoint", "AccessDeniedException", "not allowed")
        assert endpoint_failure_reason("sagemaker-llm-dev", "us-east-1", client) is None


def test_an_instance_type_change_deregisters_the_scalable_target_before_the_endpoint_update(run_program):
    # Pulumi's engine deletes, before a delete-before-replace, every resource whose inputs come from the
    # replaced one and would be replaced by that; the endpoint waits for the marker. See instance_type_marker.
    run = run_program({**API_ONLY, "instanceType": "ml.g6.xlarge", "instanceCount": 1, "maxInstanceCount": 3})
    marker = run.one(MARKER)
    assert marker.inputs["keepers"] == {"instanceType": "ml.g6.xlarge"}
    assert marker.delete_before_replace
    assert marker.urn in run.one(ENDPOINT).dependencies
    target, policy = run.one(TARGET), run.one(POLICY)
    assert marker.urn in target.property_dependencies["resourceId"]
    assert target.urn in policy.property_dependencies["resourceId"]
    # The target is registered again only after the endpoint's update.
    assert run.one(ENDPOINT).urn in target.property_dependencies["resourceId"]
    assert target.inputs["resourceId"] == "endpoint/sagemaker-llm-test/variant/AllTraffic"


def test_the_marker_exists_without_autoscaling_so_turning_it_off_with_a_type_change_works(run_program):
    run = run_program({**API_ONLY, "instanceType": "ml.g5.xlarge"})
    assert run.one(MARKER).inputs["keepers"] == {"instanceType": "ml.g5.xlarge"}
    assert run.of_type(TARGET) == []


def test_preview_neither_reads_the_live_configuration_nor_fails(run_program, pulumi_mocks, monkeypatch):
    # At preview the update has not happened: the old configuration is live, and that is no rollback.
    pulumi_mocks.mocks.computed[ENDPOINT] = _rolled_back_endpoint
    monkeypatch.setattr(endpoint_rollout.pulumi.runtime, "is_dry_run", lambda: True)
    asked = []
    monkeypatch.setattr(endpoint_rollout, "endpoint_failure_reason", lambda *a: asked.append(a))
    run = run_program({**API_ONLY, "apiMaxConcurrency": 0})  # 0: no Lambda quota read at preview either
    assert asked == []
    assert run.one(FUNCTION).inputs["environment"]["variables"]["SAGEMAKER_ENDPOINT_NAME"] == "sagemaker-llm-test"
