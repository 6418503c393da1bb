"""The preview role against what the program really calls at preview: bootstrap/preview_actions.py's tables.

The program runs under mocks for every committed stack file, once as `pulumi preview` (dry run) and once as
`pulumi up` (outputs known, as they are for an existing stack's preview); every provider function token the
mocks receive and every boto3 read the program sends must be in the tables, and the preview role's policy
must allow each of their actions.
"""

from __future__ import annotations

import re
from functools import cache

import boto3
import botocore.session
import pulumi
import pytest
from ci_policies import preview_policy
from preview_actions import DIRECT_READS, INVOKES, NO_PERMISSION_NEEDED, PROVIDERS, PreviewCall, preview_actions

from tests.bootstrap.conftest import policy_allows
from tests.pulumi_harness import PROJECT, ROOT, stack_file_config

COMMITTED_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


class _Response:
    status_code = 403


def _recording_client(actions: list[str]):
    """`aws_reads.client` for tests: a real boto3 client whose every call is recorded ("service:Operation"), then
    denied, as the preview role would deny a read it lacks."""

    def client(service: str, region: str):
        made = boto3.session.Session(
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=region
        ).client(service)

        def deny(model, **_):
            actions.append(f"{service}:{model.name}")
            return _Response(), {"Error": {"Code": "AccessDenied", "Message": "denied by the test"}}

        made.meta.events.register("before-call.*.*", deny)
        return made

    return client


def _calls(
    run_program, pulumi_mocks, monkeypatch, stack: str, *, preview: bool, extra: dict | None = None
) -> tuple[set[str], set[str]]:
    """(invoke tokens, boto3 operations) of one run of the program with Pulumi.<stack>.yaml (and `extra`)."""
    from components import aws_reads

    actions: list[str] = []
    monkeypatch.setattr(aws_reads, "client", _recording_client(actions))
    pulumi_mocks.stack = stack
    pulumi.runtime.set_mocks(
        pulumi_mocks.mocks, project=PROJECT, stack=stack, preview=preview, monitor=pulumi_mocks.monitor
    )
    before = len(pulumi_mocks.mocks.calls)
    run_program({**stack_file_config(stack), **(extra or {})}, stack=stack)
    return {c.token for c in pulumi_mocks.mocks.calls[before:]}, set(actions)


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
@pytest.mark.parametrize("preview", [True, False], ids=["preview", "up"])
def test_every_call_of_the_program_is_in_the_table_and_allowed_to_the_preview_role(
    run_program, pulumi_mocks, monkeypatch, stack, preview
):
    tokens, direct = _calls(run_program, pulumi_mocks, monkeypatch, stack, preview=preview)
    assert tokens, "the program called no provider function: the mocks did not run it"
    unknown = tokens - set(INVOKES)
    assert not unknown, f"add these provider functions to INVOKES in bootstrap/preview_actions.py: {unknown}"
    calls = [INVOKES[t] for t in tokens] + list(PROVIDERS.values())
    if preview:  # during `up` the deploy role makes them
        assert not direct - set(DIRECT_READS), f"add these boto3 reads to DIRECT_READS: {direct - set(DIRECT_READS)}"
        calls += [DIRECT_READS[operation] for operation in direct]
    _assert_allowed(preview_policy("aws"), calls)


def _assert_allowed(policy: dict, calls: list[PreviewCall]) -> None:
    for call in calls:
        resource = call.resource.format(partition="aws").replace("*", "us-east-1")
        for action in set(call.all_actions) - NO_PERMISSION_NEEDED:
            assert policy_allows(policy, action, resource), (action, resource)


def test_the_committed_stacks_are_the_ones_the_workflows_preview_and_deploy():
    assert {"dev", "prod"} <= set(COMMITTED_STACKS)


# Config that reaches the calls no committed stack makes: a read of the account's API Gateway settings.
CONFIG_DEPENDENT = {"dev": {"apiStreaming": True, "apiGatewayCloudWatchRole": False}}


@pytest.mark.parametrize("stack", sorted(CONFIG_DEPENDENT))
def test_config_dependent_calls_are_in_the_table_and_allowed_to_the_preview_role(
    run_program, pulumi_mocks, monkeypatch, stack
):
    tokens, direct = _calls(run_program, pulumi_mocks, monkeypatch, stack, preview=True, extra=CONFIG_DEPENDENT[stack])
    assert tokens <= set(INVOKES) and direct <= set(DIRECT_READS), (tokens - set(INVOKES), direct - set(DIRECT_READS))
    _assert_allowed(preview_policy("aws"), [INVOKES[t] for t in tokens] + [DIRECT_READS[o] for o in direct])


def test_every_row_of_the_table_is_a_call_the_program_makes(run_program, pulumi_mocks, monkeypatch):
    # A row no run calls grants the preview role something no preview needs.
    tokens, direct = set(), set()
    runs = [(s, p, None) for s in COMMITTED_STACKS for p in (True, False)]
    for stack, preview, extra in runs + [(s, True, extra) for s, extra in CONFIG_DEPENDENT.items()]:
        more_tokens, more_direct = _calls(run_program, pulumi_mocks, monkeypatch, stack, preview=preview, extra=extra)
        tokens |= more_tokens
        direct |= more_direct if preview else set()
    assert set(INVOKES) == tokens
    assert set(DIRECT_READS) == direct


def test_get_vpc_may_read_the_vpc_attributes_and_main_route_table_it_reads_besides_the_vpc():
    # terraform-provider-aws's aws_vpc data source: three DescribeVpcAttribute calls (fatal), DescribeRouteTables.
    policy = preview_policy("aws")
    assert set(INVOKES["aws:ec2/getVpc:getVpc"].all_actions) == {
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeRouteTables",
    }
    for action in ("ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeRouteTables"):
        assert policy_allows(policy, action), action


def test_aws_native_resources_make_no_cloud_control_call_at_preview():
    # Check/Diff/Create(preview) of pulumi-aws-native never reach Cloud Control: the preview role gets none of it.
    policy = preview_policy("aws")
    for action in ("cloudformation:GetResource", "cloudformation:ListResources", "cloudformation:DescribeType"):
        assert not any(action in actions for actions in preview_actions().values())
        assert not policy_allows(policy, action), action


_SOURCE = re.compile(r"[\w.-]+/[\w.-]+ [\w./-]+\.go\b|sagemaker-llm [\w/]+\.py\b")


@pytest.mark.parametrize(
    ("name", "call"),
    [*INVOKES.items(), *PROVIDERS.items(), *DIRECT_READS.items()],
    ids=[*INVOKES, *PROVIDERS, *DIRECT_READS],
)
def test_every_row_cites_the_file_that_makes_its_calls_and_names_real_operations(name: str, call: PreviewCall):
    assert _SOURCE.search(call.source), f"{name}: {call.source!r} names no repository and file"
    if call.source.startswith("sagemaker-llm "):
        assert (ROOT / call.source.split()[1]).is_file(), call.source
    if name in DIRECT_READS:
        service, operation = name.split(":")
        assert operation in _operations(service), f"{name} is not a botocore operation"
    for action in call.all_actions:
        prefix, verb = action.split(":")
        assert verb in _operations(prefix) | HTTP_VERB_ACTIONS.get(prefix, set()), f"{name}: {action} is not an action"


# IAM prefixes whose actions are the HTTP verbs of their REST API rather than operation names.
HTTP_VERB_ACTIONS = {"apigateway": {"GET"}}


@cache
def _operations(prefix: str) -> frozenset[str]:
    return frozenset(botocore.session.get_session().get_service_model(prefix).operation_names)


def test_the_ci_doc_says_each_action_pull_request_code_can_make():
    doc = (ROOT / "docs" / "ci.md").read_text().split("### What pull-request code can read", 1)[1]
    for actions in preview_actions().values():
        for action in actions:
            assert f"`{action}`" in doc, action
    assert "`kms:Decrypt`" in doc
