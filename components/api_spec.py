"""What either kind of ChatApi serves and takes: the routes, the arguments, and where clients reach it.

Shared by the two API builders (components/http_api.py, components/streaming_api.py, whose OpenAPI
document components/rest_api_document.py writes) and by ChatApi, which chooses between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

from openai_proxy import contract

if TYPE_CHECKING:
    from components.settings import Settings


def gateway_route_key(route: contract.Route) -> str:
    """`GET /v1/models/{model}` → `GET /v1/models/{model+}`: the proxy's final `{name}` takes the rest of the
    path, slashes included (Hugging Face ids have one), which is API Gateway's greedy path variable."""
    return route.key.replace("}", "+}")


# What the gateway routes to the function: the proxy's routes (openai_proxy/contract.py), in API Gateway's syntax.
ROUTES = tuple(gateway_route_key(route) for route in contract.ROUTES)


@dataclass(frozen=True, kw_only=True)
class ChatApiArgs:
    """The function behind the API and the API's limits. No defaults for what the stack configures: Pulumi.yaml
    holds those, and `from_settings` reads them."""

    function_name: pulumi.Input[str]
    """Name of the proxy Lambda function (for its invoke permission)."""
    function_invoke_arn: pulumi.Input[str]
    """Invoke ARN of the proxy Lambda function (the integration's target)."""
    function_streaming_invoke_arn: pulumi.Input[str] | None
    """The function's response-streaming invocation URI (`ProxyFunction.streaming_invoke_arn`); for `streaming`."""
    rate_limit: int
    """Steady-state requests per second the stage accepts."""
    burst_limit: int
    """Requests the stage accepts in a burst above the rate."""
    cors_origins: tuple[str, ...]
    """Browser origins allowed by CORS; empty means no CORS (server-side callers need none)."""
    log_retention_days: int
    """Days CloudWatch keeps the access logs."""
    streaming: bool
    """Build a REST API whose Lambda integrations stream (apiStreaming) instead of the HTTP API."""
    manage_cloudwatch_role: bool
    """With `streaming`: set the account's API Gateway CloudWatch Logs role (account-wide, kept on destroy), which
    the REST stage's access logs need; off, the account must have one already (checked before anything is made)."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        function_name: pulumi.Input[str],
        function_invoke_arn: pulumi.Input[str],
        function_streaming_invoke_arn: pulumi.Input[str] | None,
    ) -> ChatApiArgs:
        """The API the stack's settings ask for, in front of the function these outputs name."""
        return cls(
            function_name=function_name,
            function_invoke_arn=function_invoke_arn,
            function_streaming_invoke_arn=function_streaming_invoke_arn,
            rate_limit=settings.api_rate_limit,
            burst_limit=settings.api_burst_limit,
            cors_origins=settings.api_cors_origins,
            log_retention_days=settings.log_retention_days,
            streaming=settings.api_streaming,
            manage_cloudwatch_role=settings.api_gateway_cloud_watch_role,
        )


@dataclass(frozen=True)
class ApiEndpoints:
    """Where an API variant is reached."""

    api_id: pulumi.Output[str]
    api_endpoint: pulumi.Output[str]
    api_url: pulumi.Output[str]
    execution_arn: pulumi.Output[str]
    api_name: pulumi.Output[str]
    """The API's name: what CloudWatch measures a REST API by (ApiName)."""
    stage_name: str
    """The stage clients call: the Stage dimension of the API's metrics."""


def route_slug(route_key: str) -> str:
    """`GET /v1/models/{model+}` → `get-v1-models-model`: a readable, unique child resource name."""
    return "-".join(route_key.lower().translate(str.maketrans("/", " ", "{}+")).split())
