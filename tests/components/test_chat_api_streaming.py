"""ChatApi with apiStreaming (the default): a regional REST API whose Lambda integrations stream, same routes and
limits, one OpenAPI document per deployment, and access logs from the first `up` on."""

import hashlib
import json
import logging

import pytest

from components import aws_reads
from components.chat_api import ROUTES
from components.streaming_api import STAGE_NAME, CloudWatchRoleMissingError
from tests.pulumi_harness import ACCOUNT, REGION
from tests.resource_types import FUNCTION, PERMISSION, REST_API, ROLE

DEPLOYMENT = "aws:apigateway/deployment:Deployment"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
ACCOUNT_SETTINGS = "aws:apigateway/account:Account"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
# No apiStreaming and no apiGatewayCloudWatchRole: the project's defaults.
DEFAULTS = {"uiEnabled": False, "modelId": "distilgpt2", "apiRateLimit": 5, "apiBurstLimit": 7}
ROLE_UNSET = {**DEFAULTS, "apiGatewayCloudWatchRole": False}
STREAMING_VARIABLES = {
    "$context.integration.responseTransferMode",
    "$context.integration.timeToAllHeaders",
    "$context.integration.timeToFirstContent",
}


@pytest.fixture
def run(cached_run):
    return cached_run(DEFAULTS)


def document(run) -> dict:
    return json.loads(run.one(REST_API).inputs["body"])


def test_by_default_the_api_is_a_regional_rest_api_and_no_http_api(run):
    assert run.of_type("aws:apigatewayv2/api:Api") == []
    assert run.of_type("aws:apigatewayv2/route:Route") == []
    api = run.one(REST_API).inputs
    assert api["endpointConfiguration"]["types"] == "REGIONAL"
    assert api["putRestApiMode"] == "overwrite"  # the document is the whole API
    assert api["failOnWarnings"] is True  # a setting API Gateway would skip stops the deploy


def test_the_document_serves_exactly_the_routes_each_streamed_from_the_function_for_15_minutes(run):
    function_arn = run.one(FUNCTION).state["arn"]
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2021-11-15/functions/{function_arn}/response-streaming-invocations"
    paths = document(run)["paths"]
    served = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    assert served == set(ROUTES)
    for methods in paths.values():
        for operation in methods.values():
            integration = operation["x-amazon-apigateway-integration"]
            assert integration == {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": uri,
                "responseTransferMode": "STREAM",
                "timeoutInMillis": 900_000,  # BUFFERED stops at 29 s without a quota raise
            }
    (parameter,) = paths["/v1/models/{model+}"]["get"]["parameters"]
    assert parameter == {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}


def test_no_route_is_a_resource_of_its_own_whose_removal_would_come_after_the_next_deployment(run):
    for separate in ("resource:Resource", "method:Method", "integration:Integration", "response:Response"):
        assert run.of_type(f"aws:apigateway/{separate}") == []


def test_each_document_gets_its_own_deployment_made_after_it_is_imported(run):
    api, deployment = run.one(REST_API), run.one(DEPLOYMENT)
    assert api.state["executionArn"].endswith(f":{deployment.inputs['restApi']}")  # the mocks' id of this API
    assert api.urn in deployment.dependencies  # so the import (PutRestApi) is done before the deployment
    body = api.inputs["body"]
    assert deployment.inputs["triggers"] == {"redeployment": hashlib.sha256(body.encode()).hexdigest()}
    assert run.one(STAGE).inputs["deployment"] == deployment.state["name"]


def test_a_removed_route_is_gone_from_the_next_deployment(run, run_program, monkeypatch):
    import components.rest_api_document as rest_api_document

    monkeypatch.setattr(rest_api_document, "ROUTES", tuple(r for r in ROUTES if r != "POST /v1/completions"))
    changed = run_program(DEFAULTS)

    assert "/v1/completions" not in document(changed)["paths"]
    before, after = (r.one(DEPLOYMENT).inputs["triggers"]["redeployment"] for r in (run, changed))
    assert before != after  # a new deployment, of the document without the route


def test_the_stage_is_deployed_and_throttled(run):
    stage = run.one(STAGE).inputs
    assert stage["stageName"] == STAGE_NAME
    settings = run.one(METHOD_SETTINGS).inputs
    assert (settings["methodPath"], settings["stageName"]) == ("*/*", STAGE_NAME)
    assert settings["settings"]["throttlingRateLimit"] == 5
    assert settings["settings"]["throttlingBurstLimit"] == 7


def test_by_default_the_stack_sets_the_account_role_before_the_logged_stage_and_keeps_it_on_destroy(run):
    role = run.one(ROLE, "api-cloudwatch-role")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    attachment = run.one(ATTACHMENT, "api-cloudwatch-role-policy")
    assert attachment.inputs == {
        "role": role.state["name"],
        "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
    }
    account = run.one(ACCOUNT_SETTINGS)
    assert account.inputs["cloudwatchRoleArn"] == role.state["arn"]
    assert attachment.urn in account.dependencies  # API Gateway checks the role's permissions when it is set
    assert account.urn in run.one(STAGE).dependencies
    # pulumi-aws 7 resets the account's setting when the Account resource is deleted: every other REST API in
    # the account and region would stop logging. All three stay in AWS on `pulumi destroy`.
    assert (account.retain_on_delete, role.retain_on_delete, attachment.retain_on_delete) == (True, True, True)


def test_the_stage_logs_every_request_as_json_with_the_streaming_variables(run):
    stage = run.one(STAGE)
    log_format = json.loads(stage.inputs["accessLogSettings"]["format"])
    assert log_format["status"] == "$context.status"
    assert log_format["resourcePath"] == "$context.resourcePath"
    assert set(log_format.values()) >= STREAMING_VARIABLES
    assert not any("authorization" in str(value).lower() for value in log_format.values())
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == log_group.state["arn"]


def test_the_preview_says_the_role_is_account_wide_and_kept_on_destroy(run_program, caplog):
    with caplog.at_level(logging.WARNING):
        run_program(DEFAULTS)
    (warning,) = [r.getMessage() for r in caplog.records if "CloudWatch Logs role" in r.getMessage()]
    assert "account-wide" in warning
    assert "`pulumi destroy` keeps the setting and its role" in warning
    assert "pulumi config set apiGatewayCloudWatchRole false" in warning


def test_with_the_role_left_to_the_account_the_stage_still_logs(run_program, monkeypatch):
    asked = []
    monkeypatch.setattr(aws_reads, "apigateway_cloudwatch_role", lambda region: asked.append(region) or "arn:x")
    run = run_program(ROLE_UNSET)
    assert asked == [REGION]
    assert run.of_type(ACCOUNT_SETTINGS) == []
    assert not [role for role in run.of_type(ROLE) if role.name == "api-cloudwatch-role"]
    assert run.one(STAGE).inputs["accessLogSettings"]["format"]


def test_an_account_without_a_role_stops_the_preview_before_any_api_resource(run_program, pulumi_mocks, monkeypatch):
    # A stage with access logs fails half-way through `up` there: "CloudWatch Logs role ARN must be set in account
    # settings". It must not be created without logs either: stop, and say how to fix it.
    monkeypatch.setattr(aws_reads, "apigateway_cloudwatch_role", lambda region: "")
    with pytest.raises(CloudWatchRoleMissingError) as stopped:
        run_program(ROLE_UNSET)
    assert "pulumi config set apiGatewayCloudWatchRole true" in str(stopped.value)
    assert not [r for r in pulumi_mocks.resources() if r.type.startswith("aws:apigateway/")]


def test_an_account_whose_settings_cannot_be_read_gets_a_warning_and_a_logged_stage(run_program, monkeypatch, caplog):
    monkeypatch.setattr(aws_reads, "apigateway_cloudwatch_role", lambda region: None)
    with caplog.at_level(logging.WARNING):
        run = run_program(ROLE_UNSET)
    assert any("could not be read" in r.getMessage() for r in caplog.records)
    assert run.one(STAGE).inputs["accessLogSettings"]["format"]


def test_the_account_role_is_read_from_api_gateway_s_get_account():
    import botocore.session
    from botocore.stub import Stubber

    client = botocore.session.get_session().create_client(
        "apigateway", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stub:
        stub.add_response("get_account", {"cloudwatchRoleArn": f"arn:aws:iam::{ACCOUNT}:role/logs"})
        stub.add_response("get_account", {"throttleSettings": {"burstLimit": 5000, "rateLimit": 10000.0}})
        stub.add_client_error("get_account", "AccessDeniedException", "not allowed")
        assert aws_reads.apigateway_cloudwatch_role(REGION, client) == f"arn:aws:iam::{ACCOUNT}:role/logs"
        assert aws_reads.apigateway_cloudwatch_role(REGION, client) == ""
        assert aws_reads.apigateway_cloudwatch_role(REGION, client) is None


def test_the_cloudwatch_role_is_only_for_the_rest_api(run_program):
    run = run_program({**DEFAULTS, "apiStreaming": False})
    assert run.of_type(ACCOUNT_SETTINGS) == []  # the HTTP API's access logs need no account role
    assert run.of_type(REST_API) == []


def test_with_cors_origins_each_path_also_streams_the_browsers_preflight_from_the_function(run, cached_run):
    # A Lambda proxy integration returns its own CORS headers (how-to-cors.html#apigateway-enable-cors-proxy): the
    # proxy answers OPTIONS; without apiCorsOrigins the API serves no OPTIONS at all (the routes test above).
    paths = document(cached_run({**DEFAULTS, "apiCorsOrigins": ["https://chat.example.com"]}))["paths"]
    routes = document(run)["paths"]
    assert set(paths) == set(routes)
    for path, methods in paths.items():
        assert set(methods) == set(routes[path]) | {"options"}
        some_route = next(iter(routes[path].values()))
        assert methods["options"] == some_route  # the same streamed integration, path parameter included


@pytest.mark.parametrize(
    ("origins", "allowed"),
    [
        (["https://chat.example.com"], "'https://chat.example.com'"),
        (["*"], "'*'"),
        # A gateway response has static headers only; echoing the Origin would let every origin read it.
        (["https://chat.example.com", "http://localhost:5173"], None),
        ([], None),
    ],
)
def test_a_browser_on_the_allowed_origin_can_read_api_gateway_s_own_answers(cached_run, origins, allowed):
    responses = document(cached_run({**DEFAULTS, "apiCorsOrigins": origins}))["x-amazon-apigateway-gateway-responses"]
    for kind, response in responses.items():
        headers = response["responseParameters"]
        assert headers.get("gatewayresponse.header.Access-Control-Allow-Origin") == allowed, kind
        if allowed:  # the SDKs wait for a 429's Retry-After
            assert "retry-after" in headers["gatewayresponse.header.Access-Control-Expose-Headers"]
        for name, value in headers.items():  # a static value is quoted, as the parameter mapping reference says
            assert name.startswith("gatewayresponse.header.") and value[0] == value[-1] == "'", name


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


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_committed_stacks_as_they_are_build_a_streaming_rest_api_that_logs_every_request(
    cached_run, stack_config, stack
):
    run = cached_run(stack_config(stack), stack=stack)
    assert run.of_type("aws:apigatewayv2/api:Api") == []
    operations = [op for methods in document(run)["paths"].values() for op in methods.values()]
    assert {op["x-amazon-apigateway-integration"]["responseTransferMode"] for op in operations} == {"STREAM"}
    stage = run.one(STAGE)
    assert set(json.loads(stage.inputs["accessLogSettings"]["format"]).values()) >= STREAMING_VARIABLES
    assert run.one(ACCOUNT_SETTINGS).urn in stage.dependencies
    assert run.outputs["apiUrl"].endswith(f"/{STAGE_NAME}/v1")
    function = run.one(FUNCTION).inputs
    assert function["environment"]["variables"]["RESPONSE_STREAMING"] == "true"
    assert function["timeout"] == 900


def _rendered(template: str, **context: str) -> dict:
    """A gateway response template as API Gateway fills it: $context values substituted, nothing else."""
    values = {
        "$context.error.messageString": json.dumps(context.get("message", 'Request "too" large')),
        "$context.error.responseType": context.get("response_type", "INTEGRATION_FAILURE"),
        "$context.requestId": "c0ffee00-0000-4000-8000-000000000000",
    }
    for name in sorted(values, key=len, reverse=True):
        template = template.replace(name, values[name])
    return json.loads(template)


def test_api_gateway_s_own_answers_are_openai_errors_with_honest_statuses(run):
    import botocore.session

    responses = document(run)["x-amazon-apigateway-gateway-responses"]
    model = botocore.session.get_session().get_service_model("apigateway")
    assert set(responses) <= set(model.shape_for("GatewayResponseType").enum)
    statuses = {kind: response.get("statusCode") for kind, response in responses.items()}
    # An unknown path or method: one gateway answer for both, so the 404 OpenAI and the HTTP API give, not a 403.
    assert statuses == {
        "MISSING_AUTHENTICATION_TOKEN": "404",
        "RESOURCE_NOT_FOUND": "404",
        "THROTTLED": "429",
        "DEFAULT_4XX": None,  # the family's own status (413 too large, …)
        "DEFAULT_5XX": None,  # 500, 502, 504 stay as API Gateway gives them; clients retry all of them
    }
    for kind, response in responses.items():
        assert response["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        error = _rendered(response["responseTemplates"]["application/json"])["error"]
        assert set(error) == {"message", "type", "param", "code"}, kind
        assert error["message"] and error["param"] is None, kind

    unknown = _rendered(responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"])["error"]
    assert (unknown["type"], unknown["code"]) == ("invalid_request_error", "unknown_url")
    assert "POST /v1/chat/completions" in unknown["message"]
    throttled = responses["THROTTLED"]
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"  # the SDKs wait for it
    error = _rendered(throttled["responseTemplates"]["application/json"])["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert "5 a second, in bursts of up to 7" in error["message"]
    failure = _rendered(responses["DEFAULT_5XX"]["responseTemplates"]["application/json"])["error"]
    assert (failure["type"], failure["code"]) == ("server_error", "INTEGRATION_FAILURE")
    assert "c0ffee00-0000-4000-8000-000000000000" in failure["message"]  # to find it in the access log
    too_large = _rendered(responses["DEFAULT_4XX"]["responseTemplates"]["application/json"], response_type="X")
    assert too_large["error"]["message"] == 'Request "too" large'  # the gateway's own words, quoted safely
