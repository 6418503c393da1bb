"""Pulumi under mocks, offline: the one harness that runs a Pulumi program (the stack's `__main__.py`, or
bootstrap's) and records what it registers. tests/conftest.py loads it as a plugin, so its fixtures serve
every test; tests/bootstrap/conftest.py runs bootstrap/ through `run_pulumi_program`.

Fixtures:

- `pulumi_mocks` (autouse) → `PulumiMocks`: before each test, a fresh `RecordingMonitor` and `AwsMocks` are
  installed with `pulumi.runtime.set_mocks(project="sagemaker-llm", stack="test", preview=False)` and the
  config is emptied. Tests that build components directly use it under `@pulumi.runtime.test` and then read
  `pulumi_mocks.resources()`.
- `run_program` → `run_program(config, *, stack="test") -> ProgramRun`: runs the real `__main__.py` with
  `config` (keys without the `sagemaker-llm:` namespace, e.g. `{"modelId": "gpt2"}`; keys with a `:` such as
  `aws:region` are taken as they are; values may be str, int, bool, list or dict) and returns every
  registered resource and the resolved stack outputs. `apiKey` and `hfToken` are passed as secrets. The
  program's own exceptions (e.g. `SettingsError`) propagate.
- `cached_run`: the same, run once per session for equal arguments (read-only tests).
- `no_aws_account` (autouse): `components.aws_reads.client` raises NoCredentialsError, so the program's own
  boto3 reads answer None (unknown) offline.
- `stack_config` → `stack_config("dev")`: Pulumi.dev.yaml's `config:` for `run_program`.

The rest:

- `run_pulumi_program(main, mocks, monkeypatch, *, project, stack, config, secret_keys=())`: run any
  program's `__main__.py` under `mocks` (what `run_program` and bootstrap's `run_bootstrap` both call).
- `ProgramRun.resources` (list of `Registered`: `type`, `name`, `urn`, `parent` URN, resolved `inputs`
  (secrets revealed), `raw_inputs` (secret markers kept), `state` = inputs plus what the mocks computed,
  `outputs` registered by a component, `dependencies`, `property_dependencies`, `delete_before_replace`,
  `retain_on_delete`, `ignore_changes`, `provider`), `ProgramRun.of_type(type)`, `ProgramRun.one(type,
  name=None)`, `ProgramRun.children(component)`, `ProgramRun.outputs` (name → resolved value),
  `ProgramRun.secret_outputs` (names marked secret).
- `PulumiMocks.configure(config)`: set the config only (for `load_settings()` tests).
- `Registered.clear_text()`: every string of its inputs outside a secret (what state holds in clear).
- `AwsMocks.region`: what `aws.get_region` answers (default `REGION`).
- `AwsMocks.computed[type_token] = fn(args, physical_name) -> dict` adds provider-computed state for a
  resource type; `AwsMocks.calls` records every provider function call (`MockCallArgs`).
- `stack_file_config(stack)`: the `config:` of Pulumi.<stack>.yaml.
- Constants: `ROOT` (the repository), `ACCOUNT`, `REGION`, `PROJECT`, `DEFAULT_AMI_ID`, `DEFAULT_VPC_ID`,
  `DEFAULT_SUBNET_IDS`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "sagemaker-llm"
ACCOUNT = "123456789012"
REGION = "us-east-1"
DEFAULT_VPC_ID = "vpc-0a1b2c3d4e5f60718"
DEFAULT_SUBNET_IDS = ["subnet-0bbbbbbbbbbbbbbbb", "subnet-0aaaaaaaaaaaaaaaa"]
DEFAULT_AMI_ID = "ami-0123456789abcdef0"
SECRET_CONFIG_KEYS = ("apiKey", "hfToken")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:7]


def _lambda_state(args: MockResourceArgs, name: str) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    invoke = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
    return {"arn": arn, "invokeArn": invoke, "qualifiedArn": f"{arn}:$LATEST"}


def _api_state(args: MockResourceArgs, name: str) -> dict[str, Any]:
    api_id = _short_hash(name) + "xyz"
    return {
        "id": api_id,
        "apiEndpoint": f"https://{api_id}.execute-api.{REGION}.amazonaws.com",
        "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}",
        "arn": f"arn:aws:apigateway:{REGION}::/apis/{api_id}",
    }


def _rest_api_state(args: MockResourceArgs, name: str) -> dict[str, Any]:
    api_id = "rest" + _short_hash(name)
    return {"id": api_id, "executionArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}"}


def _rest_stage_state(args: MockResourceArgs, name: str) -> dict[str, Any]:
    api_id, stage = args.inputs["restApi"], args.inputs["stageName"]
    return {"invokeUrl": f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{stage}"}


def _password_state(args: MockResourceArgs, name: str) -> dict[str, Any]:
    length = int(args.inputs.get("length", 16))
    return {"result": ("mock" + hashlib.sha256(name.encode()).hexdigest() * 4)[:length], "bcryptHash": "$2a$mock"}


def _instance_state(args: MockResourceArgs, name: str) -> dict[str, Any]:
    return {
        "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0{_short_hash(name)}",
        "publicIp": "198.51.100.7",
        "publicDns": f"ec2-198-51-100-7.{REGION}.compute.amazonaws.com",
        "privateIp": "172.31.0.7",
    }


class AwsMocks(pulumi.runtime.Mocks):
    """Answers provider calls like AWS would for one account in us-east-1, and computes resource outputs."""

    def __init__(self) -> None:
        self.calls: list[MockCallArgs] = []
        self.region = REGION
        """What `aws.get_region` answers (the stack's `aws:region`)."""
        self.computed: dict[str, Callable[[MockResourceArgs, str], dict[str, Any]]] = {
            "aws:iam/role:Role": lambda a, n: {"arn": f"arn:aws:iam::{ACCOUNT}:role/{n}", "uniqueId": "AROAMOCK"},
            "aws:sagemaker/endpoint:Endpoint": lambda a, n: {
                "arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{n.lower()}"
            },
            "aws:sagemaker/model:Model": lambda a, n: {"arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{n}"},
            "aws-native:sagemaker:InferenceComponent": lambda a, n: {
                "inferenceComponentArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:inference-component/"
                + str(a.inputs.get("inferenceComponentName", n))
            },
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration": lambda a, n: {
                "arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{n}"
            },
            "aws:ssm/parameter:Parameter": lambda a, n: {
                "arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{n.lstrip('/')}"
            },
            "aws:cloudwatch/logGroup:LogGroup": lambda a, n: {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{n}"},
            "aws:lambda/function:Function": _lambda_state,
            "aws:apigatewayv2/api:Api": _api_state,
            "aws:apigateway/restApi:RestApi": _rest_api_state,
            "aws:apigateway/stage:Stage": _rest_stage_state,
            "random:index/randomPassword:RandomPassword": _password_state,
            "aws:ec2/instance:Instance": _instance_state,
            "aws:ec2/eip:Eip": lambda a, n: {
                "publicIp": "198.51.100.8",
                "publicDns": "ec2-198-51-100-8.compute-1.amazonaws.com",
                "allocationId": f"eipalloc-{_short_hash(n)}",
            },
            "aws:cloudfront/distribution:Distribution": lambda a, n: {
                "domainName": f"d{_short_hash(n)}abcdef.cloudfront.net",
                "hostedZoneId": "Z2FDTNDATAQYW2",
                "arn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E{_short_hash(n).upper()}",
            },
        }

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        physical = args.inputs.get("name") or f"{args.name}-{_short_hash(args.name)}"
        state: dict[str, Any] = {**args.inputs, "name": physical}
        extra = self.computed.get(args.typ)
        if extra is not None:
            state |= extra(args, physical)
        if "arn" not in state:
            module = args.typ.split(":")[1].split("/")[0]
            state["arn"] = f"arn:aws:{module}:{REGION}:{ACCOUNT}:{args.typ.rsplit(':', 1)[-1].lower()}/{physical}"
        return state.pop("id", physical), state

    def call(self, args: MockCallArgs) -> dict[str, Any]:
        self.calls.append(args)
        answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "aws:index/getRegion:getRegion": lambda a: {
                "region": self.region,
                "name": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": "US East (N. Virginia)" if self.region == REGION else self.region,
            },
            "aws:index/getCallerIdentity:getCallerIdentity": lambda a: {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/mock",
                "userId": "AIDAMOCK",
                "id": ACCOUNT,
            },
            "aws:index/getPartition:getPartition": lambda a: {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            },
            "aws:ec2/getVpc:getVpc": lambda a: {
                "id": DEFAULT_VPC_ID,
                "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{DEFAULT_VPC_ID}",
                "cidrBlock": "172.31.0.0/16",
                "default": True,
                "state": "available",
            },
            "aws:ec2/getSubnets:getSubnets": lambda a: {"id": REGION, "ids": list(DEFAULT_SUBNET_IDS)},
            "aws:ec2/getSubnet:getSubnet": lambda a: {
                "id": a.get("id") or DEFAULT_SUBNET_IDS[1],
                "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:subnet/{a.get('id') or DEFAULT_SUBNET_IDS[1]}",
                "vpcId": DEFAULT_VPC_ID,
                "availabilityZone": f"{REGION}a",
                "availabilityZoneId": "use1-az1",
                "cidrBlock": "172.31.0.0/20",
                "defaultForAz": True,
                "mapPublicIpOnLaunch": True,
            },
            "aws:ec2/getAmi:getAmi": lambda a: {
                "id": DEFAULT_AMI_ID,
                "imageId": DEFAULT_AMI_ID,
                "name": "al2023-ami-2023.9.20251110.0-kernel-6.1-x86_64",
                "architecture": "x86_64",
                "rootDeviceName": "/dev/xvda",
            },
            # Every zone but us-east-1e, which (really) has no t3.
            "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": lambda a: {
                "id": REGION,
                "locations": [f"{REGION}{zone}" for zone in "abcdf"],
                "locationTypes": ["availability-zone"] * 5,
                "instanceTypes": [a["filters"][0]["values"][0]] * 5,
            },
            "aws:ec2/getManagedPrefixList:getManagedPrefixList": lambda a: {
                "id": "pl-3b927c52",  # CloudFront's origin-facing list in us-east-1
                "name": a.get("name"),
                "arn": f"arn:aws:ec2:{REGION}:aws:prefix-list/pl-3b927c52",
                "addressFamily": "IPv4",
                "maxEntries": 55,
                "ownerId": "AWS",
            },
            "aws:ssm/getParameter:getParameter": lambda a: {
                "id": a.get("name"),
                "name": a.get("name"),
                "arn": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{str(a.get('name', '')).lstrip('/')}",
                "type": "String",
                "value": DEFAULT_AMI_ID,
                "insecureValue": DEFAULT_AMI_ID,
                "version": 1,
            },
        }
        answer = answers.get(args.token)
        if answer is None:
            raise NotImplementedError(f"tests/pulumi_harness.py AwsMocks has no answer for {args.token}")
        return answer(args.args)


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also keeps each resource's parent, inputs and registered outputs."""

    def __init__(self, mocks: AwsMocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, dict[str, Any]] = {}
        self.component_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations[response.urn] = {
                "type": request.type,
                "name": request.name,
                "parent": request.parent,
                "custom": request.custom,
                "inputs": rpc.deserialize_properties(request.object),
                "dependencies": list(request.dependencies),
                "property_dependencies": {key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
                "delete_before_replace": request.deleteBeforeReplace,
                "retain_on_delete": bool(request.retainOnDelete),
                "ignore_changes": tuple(request.ignoreChanges),
                "provider": request.provider,
            }
        return response

    def RegisterResourceOutputs(self, request):
        self.component_outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def _is_secret_marker(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def reveal(value: Any) -> Any:
    """`value` with every secret marker replaced by the value it wraps."""
    if _is_secret_marker(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in `value` that is not inside a secret (what would be stored in clear text)."""
    if _is_secret_marker(value):
        return
    if isinstance(value, dict):
        for item in value.values():
            yield from plain_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)
    elif isinstance(value, str):
        yield value


@dataclass(frozen=True)
class Registered:
    """One resource the program registered; `inputs` with secrets revealed, `raw_inputs` with their markers."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    raw_inputs: dict[str, Any]
    state: dict[str, Any]
    outputs: dict[str, Any] | None = None
    dependencies: tuple[str, ...] = ()
    """URNs of every resource it depends on (`depends_on` and its inputs'), as the engine records them."""
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Input name → URNs that input's value came from (what a delete-before-replace of those cascades to)."""
    delete_before_replace: bool = False
    """The `delete_before_replace` resource option."""
    retain_on_delete: bool = False
    """The `retain_on_delete` resource option: `pulumi destroy` leaves the resource in AWS."""
    ignore_changes: tuple[str, ...] = ()
    """The `ignore_changes` resource option: input paths a later `pulumi up` leaves as they are in AWS."""
    provider: str = ""
    """The explicit provider it registered with (`<provider urn>::<id>`); "" for the default provider."""

    def clear_text(self) -> list[str]:
        """Every string of the inputs that is not inside a secret: what Pulumi state stores in clear text."""
        return list(plain_strings(self.raw_inputs))


@dataclass
class ProgramRun:
    """What a program run under mocks registered and exported."""

    resources: list[Registered]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()

    def of_type(self, type_: str) -> list[Registered]:
        """Every resource of a type token (e.g. `aws:iam/rolePolicy:RolePolicy`)."""
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        """The single resource of a type (and name, when given); fails the test otherwise."""
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def children(self, component: Registered) -> list[Registered]:
        """The resources whose parent is `component`."""
        return [r for r in self.resources if r.parent == component.urn]


@dataclass
class PulumiMocks:
    """The mocks installed for the current test."""

    mocks: AwsMocks
    monitor: RecordingMonitor
    stack: str = "test"
    project: str = PROJECT

    def install(self, stack: str, project: str = PROJECT) -> None:
        """(Re)install the mocks for `project`'s `stack`, keeping what was recorded."""
        self.stack, self.project = stack, project
        pulumi.runtime.set_mocks(self.mocks, project=project, stack=stack, preview=False, monitor=self.monitor)

    def configure(
        self, config: Mapping[str, Any], *, project: str = PROJECT, secret_keys: Sequence[str] = SECRET_CONFIG_KEYS
    ) -> None:
        """Set the stack config (as `run_program` takes it); `secret_keys` (`apiKey`, `hfToken`) become secrets."""
        values = config_values(config, project)
        secrets = [f"{project}:{key}" for key in secret_keys if f"{project}:{key}" in values]
        pulumi.runtime.set_all_config(values, secret_keys=secrets)

    def resources(self) -> list[Registered]:
        """Everything registered so far (read it after the `@pulumi.runtime.test` body has run)."""
        found = []
        for urn, reg in self.monitor.registrations.items():
            recorded = self.monitor.resources.get(urn)
            found.append(
                Registered(
                    type=reg["type"],
                    name=reg["name"],
                    urn=urn,
                    parent=reg["parent"],
                    custom=reg["custom"],
                    inputs=reveal(reg["inputs"]),
                    raw_inputs=reg["inputs"],
                    state=reveal(dict(recorded.state) if recorded else dict(reg["inputs"])),
                    outputs=reveal(self.monitor.component_outputs.get(urn)),
                    dependencies=tuple(reg["dependencies"]),
                    property_dependencies=reg["property_dependencies"],
                    delete_before_replace=reg["delete_before_replace"],
                    retain_on_delete=reg["retain_on_delete"],
                    ignore_changes=reg["ignore_changes"],
                    provider=reg["provider"],
                )
            )
        return found


def config_values(config: Mapping[str, Any], project: str = PROJECT) -> dict[str, str]:
    """Stack config as the engine hands it to a program: keys in `project`'s namespace, string values."""

    def as_text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return json.dumps(value)
        return str(value)

    return {(key if ":" in key else f"{project}:{key}"): as_text(value) for key, value in config.items()}


def stack_file_config(stack: str) -> dict[str, Any]:
    """The `config:` of Pulumi.<stack>.yaml, as `run_program` and `PulumiMocks.configure` take it."""
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


@pytest.fixture
def stack_config() -> Callable[[str], dict[str, Any]]:
    """`stack_config("dev")`: the config of a committed stack file (see `stack_file_config`)."""
    return stack_file_config


@pytest.fixture(autouse=True)
def pulumi_mocks() -> Iterator[PulumiMocks]:
    """Fresh mocks and an empty config for every test (one place, so test files never fight over set_mocks)."""
    mocks = AwsMocks()
    installed = PulumiMocks(mocks, RecordingMonitor(mocks))
    installed.install("test")
    pulumi.runtime.set_all_config({}, secret_keys=[])
    yield installed
    pulumi.runtime.set_all_config({}, secret_keys=[])


@pytest.fixture(autouse=True)
def no_aws_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program's own boto3 reads (components/aws_reads.py) find no credentials, as with a role that has none:
    no test reaches a real account. A test gives a read's answer by patching that read (or passing a client)."""
    from botocore.exceptions import NoCredentialsError

    from components import aws_reads

    def no_credentials(service: str, region: str) -> Any:
        raise NoCredentialsError()

    monkeypatch.setattr(aws_reads, "client", no_credentials)


def run_pulumi_program(
    main: Path,
    mocks: PulumiMocks,
    monkeypatch: pytest.MonkeyPatch,
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any],
    secret_keys: Sequence[str] = (),
) -> ProgramRun:
    """Run the program `main` (a `__main__.py`) as `project`'s `stack` under `mocks`, with `config` (keys without
    the namespace); return everything it registered and its outputs, resolved."""
    if (project, stack) != (mocks.project, mocks.stack):
        mocks.install(stack, project)
    mocks.configure(config, project=project, secret_keys=secret_keys)
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.__setitem__(name, value))
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        module_name = f"{project.replace('-', '_')}_program"
        spec = importlib.util.spec_from_file_location(module_name, main)
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        outputs = {name: pulumi.Output.from_input(value) for name, value in exported.items()}
        return pulumi.Output.all(**outputs).apply(resolved.update)

    program()
    secret = {name for name, value in exported.items() if _sync_await(pulumi.Output.from_input(value).is_secret())}
    return ProgramRun(mocks.resources(), resolved, frozenset(secret))


@pytest.fixture
def run_program(pulumi_mocks: PulumiMocks, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ProgramRun]:
    """`run_program(config, *, stack="test")`: run the real __main__.py under mocks; see the module docstring."""

    def run(config: Mapping[str, Any], *, stack: str = "test") -> ProgramRun:
        return run_pulumi_program(
            ROOT / "__main__.py",
            pulumi_mocks,
            monkeypatch,
            project=PROJECT,
            stack=stack,
            config=config,
            secret_keys=SECRET_CONFIG_KEYS,
        )

    return run


_RUNS: dict[str, ProgramRun] = {}


@pytest.fixture
def cached_run(run_program: Callable[..., ProgramRun]) -> Callable[..., ProgramRun]:
    """`cached_run(config, *, stack="test")`: `run_program`, run once per session for equal arguments.

    For tests that only read the result; use `run_program` to look at calls or fresh registrations.
    """

    def run(config: Mapping[str, Any], *, stack: str = "test") -> ProgramRun:
        key = json.dumps([config, stack], sort_keys=True)
        if key not in _RUNS:
            _RUNS[key] = run_program(config, stack=stack)
        return _RUNS[key]

    return run
