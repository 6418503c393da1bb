"""ChatApi with apiStreaming false: the HTTP API's routes, Lambda integration, permission, throttling and URL."""

import json

import pytest

from components.chat_api import ROUTES
from tests.resource_types import PERMISSION

API = "aws:apigatewayv2/api:Api"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
STAGE = "aws:apigatewayv2/stage:Stage"
API_ONLY = {"uiEnabled": False, "apiStreaming": False}  # the HTTP API: buffered, cheaper, CORS


@pytest.fixture
def run(cached_run):
    return cached_run({**API_ONLY, "modelId": "distilgpt2", "apiRateLimit": 5, "apiBurstLimit": 7})


def test_openai_routes_and_health_go_to_the_single_lambda_integration(run):
    integration = run.one(INTEGRATION)
    routes = {r.inputs["routeKey"]: r.inputs["target"] for r in run.of_type(ROUTE)}
    assert (
        set(routes)
        == set(ROUTES)
        == {
            "POST /v1/chat/completions",
            "POST /v1/completions",
            "GET /v1/models",
            "GET /v1/models/{model+}",
            "GET /health",
        }
    )
    assert set(routes.values()) == {f"integrations/{integration.state['name']}"}


def test_integration_is_lambda_proxy_payload_2_with_the_gateway_s_30_s_ceiling(run):
    integration = run.one(INTEGRATION).inputs
    assert integration["integrationType"] == "AWS_PROXY"
    assert integration["payloadFormatVersion"] == "2.0"
    assert integration["timeoutMilliseconds"] == 30_000
    assert integration["integrationUri"] == run.one("aws:lambda/function:Function").state["invokeArn"]


def test_default_stage_auto_deploys_throttled_with_json_access_logs(run):
    stage = run.one(STAGE).inputs
    assert stage["name"] == "$default"
    assert stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] == 5
    assert stage["defaultRouteSettings"]["throttlingBurstLimit"] == 7
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format["status"] == "$context.status"
    assert not any("authorization" in str(value).lower() for value in log_format.values())
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")
    assert stage["accessLogSettings"]["destinationArn"] == log_group.state["arn"]
    assert log_group.inputs["retentionInDays"] == 14


def test_lambda_permission_is_for_this_api_only(run):
    permission = run.one(PERMISSION).inputs
    execution_arn = run.one(API).state["executionArn"]
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["function"] == run.one("aws:lambda/function:Function").state["name"]
    assert permission["sourceArn"].startswith(f"{execution_arn}/")


def test_api_url_is_the_openai_base_url(run):
    api = run.one(API).state
    assert run.outputs["apiUrl"] == f"{api['apiEndpoint']}/v1"


def test_no_cors_unless_origins_are_configured(run, run_program):
    assert "corsConfiguration" not in run.one(API).inputs
    with_cors = run_program({**API_ONLY, "modelId": "distilgpt2", "apiCorsOrigins": ["https://chat.example.com"]})
    cors = with_cors.one(API).inputs["corsConfiguration"]
    assert cors["allowOrigins"] == ["https://chat.example.com"]
    # The openai JS SDK's preflight asks for authorization and its x-stainless-* headers: all must pass,
    # and authorization by name, since the CORS spec's "*" does not cover it.
    assert {"authorization", "*"} <= set(cors["allowHeaders"])
    assert set(cors["exposeHeaders"]) == {"retry-after", "x-request-id"}
