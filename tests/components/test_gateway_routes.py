"""The gateway routes to the function exactly what the proxy serves: both kinds of API, read from what the
program deploys, each route key resolved by the proxy's own route records (openai_proxy/routes.py)."""

import json
import re

import pytest

from openai_proxy import routes
from openai_proxy.contract import STREAMING_SECONDS
from tests.resource_types import REST_API

HTTP_ROUTE = "aws:apigatewayv2/route:Route"
API = {"uiEnabled": False, "modelId": "distilgpt2"}
# A value for API Gateway's greedy path variable: a Hugging Face id, slash included.
MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


def _served_by_the_proxy(route_keys: set[str]) -> set[routes.Route]:
    served = set()
    for key in route_keys:
        method, path = key.split(" ", 1)
        route, param = routes.resolve(method, re.sub(r"\{\w+\+\}", MODEL, path))  # ApiError: 404 or 405
        assert param in ("", MODEL), key
        served.add(route)
    return served


@pytest.mark.parametrize("streaming", [False, True], ids=["http-api", "rest-api"])
def test_every_gateway_route_is_a_proxy_route_and_every_proxy_route_is_routed(cached_run, streaming):
    run = cached_run({**API, "apiStreaming": streaming})
    if streaming:
        paths = json.loads(run.one(REST_API).inputs["body"])["paths"]
        keys = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    else:
        keys = {route.inputs["routeKey"] for route in run.of_type(HTTP_ROUTE)}
    assert len(keys) == len(routes.ROUTES)
    assert _served_by_the_proxy(keys) == set(routes.ROUTES)


def test_the_streaming_gateway_waits_as_long_as_the_contract_says(cached_run):
    paths = json.loads(cached_run({**API, "apiStreaming": True}).one(REST_API).inputs["body"])["paths"]
    timeouts = {op["x-amazon-apigateway-integration"]["timeoutInMillis"] for m in paths.values() for op in m.values()}
    assert timeouts == {STREAMING_SECONDS * 1000}
