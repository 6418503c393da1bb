"""ChatApi with apiStreaming: a regional REST API whose Lambda integrations stream, same routes and limits."""

import json

import pytest

from components.chat_api import ROUTES
from components.streaming_api import STAGE_NAME
from tests.conftest import ACCOUNT, REGION

REST_API = "aws:apigateway/restApi:RestApi"
RESOURCE = "aws:apigateway/resource:Resource"
METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"
DEPLOYMENT = "aws:apigateway/deployment:Deployment"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
PERMISSION = "aws:lambda/permission:Permission"
ACCOUNT_SETTINGS = "aws:apigateway/account:Account"
FUNCTION = "aws:lambda/function:Function"
STREAMING = {"uiEnabled": False, "modelId": "distilgpt2", "apiRateLimit": 5, "apiBurstLimit": 7, "apiStreaming": True}


def _rest_api_state(args, name):
    api_id = "rest" + name.replace("-", "")[:6]
    return {
        "id": api_id,
        "rootResourceId": "root123",
        "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}",
    }


def _stage_state(args, name):
    api_id = args.inputs["restApi"]
    return {"invokeUrl": f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{args.inputs['stageName']}"}


def _mock_rest_api(pulumi_mocks):
    # What AWS computes for a REST API and its stage (the shared mocks know only the HTTP API).
    pulumi_mocks.mocks.computed[REST_API] = _rest_api_state
    pulumi_mocks.mocks.computed[STAGE] = _stage_state


@pytest.fixture
def run(pulumi_mocks, cached_run):
    _mock_rest_api(pulumi_mocks)
    return cached_run(STREAMING)


def _path_of(run, resource_id: str) -> str:
    if resource_id == "root123":
        return ""
    resource = next(r for r in run.of_type(RESOURCE) if r.state["name"] == resource_id)  # the mocks' id
    return f"{_path_of(run, resource.inputs['parentId'])}/{resource.inputs['pathPart']}"


def test_the_rest_api_replaces_the_http_api_and_is_regional(run):
    assert run.of_type("aws:apigatewayv2/api:Api") == []
    assert run.of_type("aws:apigatewayv2/route:Route") == []
    assert run.one(REST_API).inputs["endpointConfiguration"]["types"] == "REGIONAL"


def test_every_route_has_a_method_on_the_resource_of_its_path(run):
    methods = {f"{m.inputs['httpMethod']} {_path_of(run, m.inputs['resourceId'])}" for m in run.of_type(METHOD)}
    assert methods == set(ROUTES)
    assert {m.inputs["authorization"] for m in run.of_type(METHOD)} == {"NONE"}  # the proxy checks the key
    assert sorted(_path_of(run, r.state["name"]) for r in run.of_type(RESOURCE)) == [
        "/health",
        "/v1",
        "/v1/chat",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/v1/models/{model+}",
    ]


def test_integrations_stream_the_function_through_the_response_streaming_uri(run):
    function_arn = run.one(FUNCTION).state["arn"]
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2021-11-15/functions/{function_arn}/response-streaming-invocations"
    integrations = run.of_type(INTEGRATION)
    assert len(integrations) == len(ROUTES)
    for integration in integrations:
        assert integration.inputs["type"] == "AWS_PROXY"
        assert integration.inputs["integrationHttpMethod"] == "POST"
        assert integration.inputs["uri"] == uri
        assert integration.inputs["responseTransferMode"] == "STREAM"
        # Long answers: a STREAM integration may run 15 minutes (BUFFERED stops at 29 s without a quota raise).
        assert integration.inputs["timeoutMilliseconds"] == 900_000


def test_the_stage_is_deployed_and_throttled(run):
    deployment = run.one(DEPLOYMENT)
    stage = run.one(STAGE).inputs
    assert stage["deployment"] == deployment.state["name"]
    assert stage["stageName"] == STAGE_NAME
    assert deployment.inputs["triggers"]["redeployment"]  # route or integration changes redeploy
    settings = run.one(METHOD_SETTINGS).inputs
    assert (settings["methodPath"], settings["stageName"]) == ("*/*", STAGE_NAME)
    assert settings["settings"]["throttlingRateLimit"] == 5
    assert settings["settings"]["throttlingBurstLimit"] == 7


def test_without_the_account_s_cloudwatch_role_the_stage_writes_no_access_logs_and_a_warning_says_why(
    pulumi_mocks, run_program, caplog
):
    # A stage with access logs fails half-way through `up` on an account whose API Gateway settings name no
    # CloudWatch Logs role ("CloudWatch Logs role ARN must be set in account settings").
    _mock_rest_api(pulumi_mocks)
    run = run_program(STREAMING)
    assert "accessLogSettings" not in run.one(STAGE).inputs
    assert run.of_type(ACCOUNT_SETTINGS) == []
    (warning,) = [r.getMessage() for r in caplog.records if "CloudWatch Logs role" in r.getMessage()]
    assert "pulumi config set apiGatewayCloudWatchRole true" in warning
    assert "account-wide" in warning


def test_with_apigatewaycloudwatchrole_the_stack_sets_the_account_role_before_the_logged_stage(
    pulumi_mocks, run_program
):
    _mock_rest_api(pulumi_mocks)
    run = run_program({**STREAMING, "apiGatewayCloudWatchRole": True})
    role = run.one("aws:iam/role:Role", "api-cloudwatch-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    attachment = run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "api-cloudwatch-role-policy")
    assert attachment.inputs == {
        "role": role.state["name"],
        "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
    }
    account = run.one(ACCOUNT_SETTINGS)
    assert account.inputs["cloudwatchRoleArn"] == role.state["arn"]
    assert attachment.urn in account.dependencies  # API Gateway checks the role's permissions when it is set
    stage = run.one(STAGE)
    assert account.urn in stage.dependencies
    log_format = json.loads(stage.inputs["accessLogSettings"]["format"])
    assert log_format["status"] == "$context.status"
    assert log_format["resourcePath"] == "$context.resourcePath"
    assert not any("authorization" in str(value).lower() for value in log_format.values())
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == log_group.state["arn"]


def test_the_cloudwatch_role_is_only_for_the_rest_api(run_program):
    run = run_program({"uiEnabled": False, "modelId": "distilgpt2", "apiGatewayCloudWatchRole": True})
    assert run.of_type(ACCOUNT_SETTINGS) == []  # the HTTP API's access logs need no account role


def test_the_lambda_permission_is_scoped_to_this_api_s_stage(run):
    permission = run.one(PERMISSION).inputs
    execution_arn = run.one(REST_API).state["executionArn"]
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["function"] == run.one(FUNCTION).state["name"]
    assert permission["sourceArn"] == f"{execution_arn}/{STAGE_NAME}/*/*"


def test_api_url_is_still_the_openai_base_url(run):
    api_id = run.one(STAGE).inputs["restApi"]
    assert api_id.startswith("rest")
    assert run.outputs["apiUrl"] == f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{STAGE_NAME}/v1"


def test_the_default_stays_the_http_api(cached_run):
    run = cached_run({"uiEnabled": False, "modelId": "distilgpt2"})
    assert run.of_type(REST_API) == []
    assert len(run.of_type("aws:apigatewayv2/api:Api")) == 1
