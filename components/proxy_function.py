"""ProxyFunction: the `openai_proxy` Lambda that turns OpenAI API calls into SageMaker invocations."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import aws_reads, stack_path
from components.iam import allow, policy_document, service_trust_policy
from openai_proxy.contract import (
    BUFFERED_DEADLINE_SECONDS,
    BUFFERED_HANDLER,
    ENV,
    EXEC_WRAPPER_VARIABLE,
    GATEWAY_TIMEOUT_SECONDS,
    STREAMING_EXEC_WRAPPER,
    STREAMING_HANDLER,
    STREAMING_SECONDS,
)

if TYPE_CHECKING:
    from components.settings import Settings

PROXY_PACKAGE = Path(__file__).resolve().parent.parent / "proxy" / "openai_proxy"
HANDLER = BUFFERED_HANDLER
# The newest Python runtime both botocore's Lambda `Runtime` enum and pulumi-aws's list as current.
RUNTIME = "python3.14"
ARCHITECTURE = "arm64"
# The HTTP API cuts every request at 30 s: the proxy answers by its deadline, the function lives until the cut.
TIMEOUT_SECONDS = GATEWAY_TIMEOUT_SECONDS
# apiStreaming: the function runs as long as the REST API streams; the proxy's deadline is its remaining time.
STREAMING_TIMEOUT_SECONDS = STREAMING_SECONDS
# The managed Python runtime starts our streaming Runtime API loop through this wrapper (see lambda_runtime.py).
EXEC_WRAPPER = STREAMING_EXEC_WRAPPER
EXECUTABLES = frozenset({"bootstrap"})
# The zip "version made by" host system whose external attributes are Unix modes (APPNOTE.TXT 4.4.2).
ZIP_CREATED_BY_UNIX = 3
# More memory is more CPU: a faster cold start (boto3 import) and JSON work, for little money.
MEMORY_MB = 512
# Lambda keeps at least this many of the account's concurrent executions unreserved (PutFunctionConcurrency).
UNRESERVED_MINIMUM = 100


@dataclass(frozen=True, kw_only=True)
class ProxyFunctionArgs:
    """What the proxy talks to and how it authenticates callers. No defaults for what the stack configures:
    Pulumi.yaml holds those, and `from_settings` reads them."""

    endpoint_name: pulumi.Input[str]
    """SageMaker endpoint the proxy invokes."""
    invoke_statement: pulumi.Input[dict[str, Any]]
    """IAM statement allowing the invocation (from `ModelEndpoint.invoke_statement()`)."""
    served_model_name: pulumi.Input[str]
    """The public model id: listed by /v1/models, accepted in `model`."""
    inference_component_name: pulumi.Input[str] | None
    """With component hosting: the endpoint's inference component to invoke (else None)."""
    adapter_component_names: Mapping[str, pulumi.Input[str]]
    """Public model name of each LoRA adapter → its adapter component (`ModelEndpoint.adapter_component_names`)."""
    backend_dialect: str
    """openai, lmi or tgi: how the proxy talks to the container."""
    max_output_tokens: int
    """Cap the proxy applies to max_tokens."""
    api_key: pulumi.Input[str] | None
    """The API key (secret); None generates one."""
    log_retention_days: int
    """Days CloudWatch keeps the function's logs."""
    response_streaming: bool
    """Run the streaming runtime (for a REST API with response streaming) instead of the buffered handler."""
    tool_call_parser: str
    """The container's vLLM tool-call parser; "" means the proxy does not forward `tools`."""
    chat_stop_sequences: tuple[str, ...]
    """Stops the proxy adds to every chat request (a base model's chat template)."""
    cors_origins: tuple[str, ...]
    """Browser origins allowed to call the API (`*`: any); the proxy answers CORS only with `response_streaming`."""
    max_concurrency: int
    """Reserved concurrency: the most requests served at once, and all the account's concurrency it may take;
    0 reserves none (the function then shares the account's pool)."""
    key_parameter_name: str | None = None
    """SSM parameter holding the key; None means `/<project>/<stack>/<name>/api-key`."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        endpoint_name: pulumi.Input[str],
        invoke_statement: pulumi.Input[dict[str, Any]],
        served_model_name: pulumi.Input[str],
        inference_component_name: pulumi.Input[str] | None,
        adapter_component_names: Mapping[str, pulumi.Input[str]],
    ) -> ProxyFunctionArgs:
        """The proxy the stack's settings ask for, in front of the endpoint these outputs name."""
        return cls(
            endpoint_name=endpoint_name,
            invoke_statement=invoke_statement,
            served_model_name=served_model_name,
            inference_component_name=inference_component_name,
            backend_dialect=settings.backend_dialect,
            max_output_tokens=settings.max_output_tokens,
            api_key=settings.api_key,
            log_retention_days=settings.log_retention_days,
            response_streaming=settings.api_streaming,
            tool_call_parser=settings.tool_call_parser,
            chat_stop_sequences=settings.chat_stop_sequences,
            cors_origins=settings.api_cors_origins,
            max_concurrency=settings.api_max_concurrency,
            adapter_component_names=dict(adapter_component_names),
        )

    def environment(
        self, *, api_key_parameter: pulumi.Input[str] | None = None, api_key: str | None = None
    ) -> dict[str, pulumi.Input[str]]:
        """The proxy's variables: the function's (the key's SSM parameter) or the local chain's (the key itself)."""
        return proxy_environment(
            endpoint_name=self.endpoint_name,
            served_model_name=self.served_model_name,
            dialect=self.backend_dialect,
            max_output_tokens=self.max_output_tokens,
            api_key_parameter=api_key_parameter,
            api_key=api_key,
            response_streaming=self.response_streaming,
            tool_call_parser=self.tool_call_parser,
            chat_stop_sequences=self.chat_stop_sequences,
            inference_component_name=self.inference_component_name,
            adapters=self.adapter_component_names,
            cors_origins=self.cors_origins,
        )


def proxy_archive(package_dir: Path = PROXY_PACKAGE) -> pulumi.AssetArchive:
    """The Lambda code: the `openai_proxy` package's files under `openai_proxy/`, without tests or caches."""
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        f"openai_proxy/{path.relative_to(package_dir).as_posix()}": pulumi.FileAsset(os.path.relpath(path))
        for path in package_files(package_dir)
    }
    return pulumi.AssetArchive(assets)


def proxy_zip(package_dir: Path = PROXY_PACKAGE, out_dir: Path | None = None) -> pulumi.FileArchive:
    """The same files as `proxy_archive`, zipped here with `bootstrap` executable (mode 755).

    Pulumi rebuilds an AssetArchive or a directory with every file 644 (pulumi/pulumi#3593), and the
    exec wrapper must be executable; an existing .zip is uploaded as it is. The zip is byte-for-byte
    reproducible (fixed timestamps, sorted entries), so an unchanged package is not redeployed.
    """
    data = package_zip_bytes(package_dir)
    out_dir = out_dir or Path(tempfile.gettempdir()) / "sagemaker-llm"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"openai_proxy-{hashlib.sha256(data).hexdigest()[:16]}.zip"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(path)
    return pulumi.FileArchive(str(path))


def package_zip_bytes(package_dir: Path = PROXY_PACKAGE) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in package_files(package_dir):
            entry = zipfile.ZipInfo(f"openai_proxy/{path.relative_to(package_dir).as_posix()}", (1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            # Unix modes count only in an entry made "by Unix" (3); zipfile says MS-DOS (0) on Windows.
            entry.create_system = ZIP_CREATED_BY_UNIX
            mode = 0o755 if path.name in EXECUTABLES else 0o644
            entry.external_attr = (stat.S_IFREG | mode) << 16  # a regular file with these permissions
            bundle.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def package_files(package_dir: Path = PROXY_PACKAGE) -> list[Path]:
    """The files of the package that ship: no `__pycache__`, compiled files, tests or hidden files."""

    def ships(path: Path) -> bool:
        parts = path.relative_to(package_dir).parts
        return not (
            any(part.startswith(".") or part in {"__pycache__", "tests", "test"} for part in parts)
            or path.suffix in {".pyc", ".pyo"}
            or path.name.startswith("test_")
            or path.name == "conftest.py"
        )

    return sorted(path for path in package_dir.rglob("*") if path.is_file() and ships(path))


class ProxyFunction(pulumi.ComponentResource):
    """The OpenAI-compatible proxy Lambda, its API key (SSM SecureString) and its least-privilege role."""

    function_name: pulumi.Output[str]
    """The Lambda function's name."""
    function_arn: pulumi.Output[str]
    """The Lambda function's ARN."""
    invoke_arn: pulumi.Output[str]
    """The ARN API Gateway integrations invoke."""
    streaming_invoke_arn: pulumi.Output[str]
    """The ARN a REST API integration with response streaming invokes (…/response-streaming-invocations)."""
    api_key: pulumi.Output[str]
    """The API key clients send as a bearer token (secret)."""
    api_key_parameter_name: pulumi.Output[str]
    """Name of the SSM SecureString holding the key."""
    api_key_parameter_arn: pulumi.Output[str]
    """ARN of the SSM SecureString holding the key."""
    log_group_name: pulumi.Output[str]
    """The function's log group."""

    def __init__(self, name: str, args: ProxyFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("sagemaker-llm:index:ProxyFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.api_key is None:
            generated = random.RandomPassword(f"{name}-api-key", length=48, special=False, opts=child)
            api_key = generated.result
        else:
            api_key = pulumi.Output.secret(args.api_key)
        self.api_key = pulumi.Output.secret(api_key)

        # Encrypted with the AWS-managed aws/ssm key, whose key policy lets principals of this account decrypt.
        parameter = aws.ssm.Parameter(
            f"{name}-api-key",
            name=args.key_parameter_name or stack_path(name, "api-key"),
            description="API key of the OpenAI-compatible API (Authorization: Bearer <key>)",
            type="SecureString",
            value=self.api_key,
            opts=child,
        )
        self.api_key_parameter_name = parameter.name
        self.api_key_parameter_arn = parameter.arn

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=stack_path(name),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.log_group_name = log_group.name

        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        role = aws.iam.Role(
            f"{name}-role",
            description="Execution role of the OpenAI-compatible proxy",
            assume_role_policy=pulumi.Output.json_dumps(lambda_trust_policy(account)),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                policy_document(
                    [
                        allow(
                            ["logs:CreateLogStream", "logs:PutLogEvents"],
                            pulumi.Output.format("{0}:*", log_group.arn),
                            sid="WriteOwnLogs",
                        ),
                        args.invoke_statement,
                        self.read_key_statement(),
                    ]
                )
            ),
            opts=child,
        )

        variables = args.environment(api_key_parameter=parameter.name)
        if args.response_streaming:
            variables[EXEC_WRAPPER_VARIABLE] = EXEC_WRAPPER
        function = aws.lambda_.Function(
            f"{name}-function",
            description="OpenAI-compatible API in front of a SageMaker endpoint",
            role=role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=STREAMING_HANDLER if args.response_streaming else HANDLER,
            code=proxy_zip() if args.response_streaming else proxy_archive(),
            timeout=STREAMING_TIMEOUT_SECONDS if args.response_streaming else TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            reserved_concurrent_executions=args.max_concurrency or -1,  # -1: no reservation
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.function_name = function.name
        self.function_arn = function.arn
        self.invoke_arn = function.invoke_arn
        self.streaming_invoke_arn = function.arn.apply(streaming_invoke_arn)

        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "invoke_arn": self.invoke_arn,
                "streaming_invoke_arn": self.streaming_invoke_arn,
                "api_key": self.api_key,
                "api_key_parameter_name": self.api_key_parameter_name,
                "api_key_parameter_arn": self.api_key_parameter_arn,
                "log_group_name": self.log_group_name,
            }
        )

    def read_key_statement(self) -> pulumi.Output[dict[str, Any]]:
        """The IAM statement that lets a role read (and decrypt) the API key parameter, and nothing else.

        No kms:Decrypt is needed: the parameter uses the AWS-managed aws/ssm key, whose key policy
        grants Decrypt through Systems Manager to every principal of the account.
        """
        return pulumi.Output.from_input(allow("ssm:GetParameter", self.api_key_parameter_arn))


def proxy_environment(
    *,
    endpoint_name: pulumi.Input[str],
    served_model_name: pulumi.Input[str],
    dialect: str,
    max_output_tokens: int,
    api_key_parameter: pulumi.Input[str] | None = None,
    api_key: str | None = None,
    response_streaming: bool = False,
    tool_call_parser: str = "",
    chat_stop_sequences: tuple[str, ...] = (),
    inference_component_name: pulumi.Input[str] | None = None,
    adapters: Mapping[str, pulumi.Input[str]] | None = None,
    cors_origins: tuple[str, ...] = (),
) -> dict[str, pulumi.Input[str]]:
    """The proxy's own variables (contract.ENV) for these settings: the function's, and the local chain's
    (sagemaker_llm_local, which gives the key itself instead of its SSM parameter)."""
    variables: dict[str, pulumi.Input[str]] = {
        ENV.endpoint_name: endpoint_name,
        ENV.served_model_name: served_model_name,
        # Its old name too: pulumi-aws updates a function's configuration before its code (terraform-provider-aws,
        # internal/service/lambda/function.go, resourceFunctionUpdate), so the code of before reads it in between.
        ENV.served_model_name_alias: served_model_name,
        ENV.dialect: dialect,
        ENV.max_output_tokens: str(max_output_tokens),
    }
    if api_key_parameter is not None:
        variables[ENV.api_key_parameter] = api_key_parameter
    if api_key is not None:
        variables[ENV.api_key] = api_key
    if tool_call_parser:
        variables[ENV.tool_call_parser] = tool_call_parser
    if chat_stop_sequences:
        variables[ENV.stop_sequences] = json.dumps(list(chat_stop_sequences))
    if inference_component_name is not None:
        variables[ENV.inference_component_name] = inference_component_name
    if adapters:
        # Public model name → adapter component; Outputs on the stack, plain names in the local chain.
        names = dict(adapters)
        plain = all(isinstance(value, str) for value in names.values())
        variables[ENV.adapters] = json.dumps(names) if plain else pulumi.Output.json_dumps(names)
    if response_streaming:
        # No deadline: in this mode the proxy's deadline is the function's remaining time.
        variables[ENV.response_streaming] = "true"
        if cors_origins:  # the REST API's integrations pass the function's CORS headers; the HTTP API sets its own
            variables[ENV.cors_origins] = json.dumps(list(cors_origins))
    else:
        variables[ENV.deadline_seconds] = str(BUFFERED_DEADLINE_SECONDS)
    return variables


class ConcurrencyQuotaError(pulumi.RunError):
    """The account's Lambda quota cannot give the proxy its reserved concurrency; printed without a traceback."""


def require_concurrency_quota(max_concurrency: int) -> None:
    """Stop `pulumi preview` and `pulumi up` alike, before the program creates anything, when the account's Lambda
    quota cannot give the proxy `max_concurrency` (0: none reserved, nothing to check).

    Not only at preview: pulumi/actions runs `up --skip-preview`. Called before the first resource, as a failed
    `up` would otherwise leave what it had already started (roles, logs, the endpoint) behind.
    """
    if max_concurrency:
        region = aws.get_region().region
        check_reserved_concurrency(max_concurrency, aws_reads.lambda_concurrency_limit(region), region)


def check_reserved_concurrency(requested: int, limit: int | None, region: str) -> None:
    """Stop the run when `requested` can never be reserved under the account's quota `limit` (None: unknown).

    New accounts may have a quota of 10 or 50, where any reservation fails half-way through `pulumi up`.
    """
    if limit is not None and limit - requested < UNRESERVED_MINIMUM:
        raise ConcurrencyQuotaError(
            f"apiMaxConcurrency: this account's Lambda concurrency quota in {region} is {limit}, and Lambda keeps "
            f"{UNRESERVED_MINIMUM} of it unreserved, so the proxy cannot reserve {requested}. Ask for at least "
            f"{requested + UNRESERVED_MINIMUM} in Service Quotas (AWS Lambda, Concurrent executions), or reserve "
            "none: `pulumi config set apiMaxConcurrency 0`."
        )


def lambda_trust_policy(account: pulumi.Input[str]) -> dict[str, Any]:
    """Lambda may assume the role for this account's functions only (aws:SourceAccount, as AWS's own samples
    use for execution roles); no aws:SourceArn, as the function's ARN is not known before the role exists."""
    return service_trust_policy("lambda.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account}})


def streaming_invoke_arn(function_arn: str) -> str:
    """The URI API Gateway invokes a function with response streaming through:
    `arn:aws:apigateway:<region>:lambda:path/2021-11-15/functions/<function arn>/response-streaming-invocations`
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html)."""
    partition, region = function_arn.split(":")[1], function_arn.split(":")[3]
    return (
        f"arn:{partition}:apigateway:{region}:lambda:path/2021-11-15/functions/{function_arn}"
        "/response-streaming-invocations"
    )
