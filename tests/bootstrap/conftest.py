"""The bootstrap program (bootstrap/) under the same mocks as the main program.

- `run_bootstrap(config) -> ProgramRun`: runs bootstrap/__main__.py with `config` (keys as in
  bootstrap/Pulumi.yaml, without namespace) through tests/pulumi_harness.py's `run_pulumi_program`, under
  the autouse `pulumi_mocks` (its AwsMocks and monitor, installed for the bootstrap project), and returns
  what it registered and exported.
- `policy_allows(document, action, resource="*")`: a small IAM evaluator (Allow/Deny, `*` and `?` in
  actions and resources, case-insensitive actions) for asking what a role may do.
- `trust_admits(document, claims)`: whether a trust policy's conditions accept a token with these claims.
- `REPOSITORY`: the repository the tests configure.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.pulumi_harness import ACCOUNT, REGION, ROOT, ProgramRun, PulumiMocks, run_pulumi_program

BOOTSTRAP = ROOT / "bootstrap"
BOOTSTRAP_PROJECT = "sagemaker-llm-bootstrap"
REPOSITORY = "octo-org/sagemaker-llm"
GITHUB_PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"

# bootstrap/__main__.py imports its modules as the Pulumi CLI runs it: from its own directory.
if str(BOOTSTRAP) not in sys.path:
    sys.path.insert(0, str(BOOTSTRAP))


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _statement_matches(statement: dict, action: str, resource: str) -> bool:
    actions = _as_list(statement["Action"])
    resources = _as_list(statement.get("Resource", "*"))
    return any(fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        fnmatchcase(resource, r) for r in resources
    )


def policy_allows(document: dict, action: str, resource: str = "*") -> bool:
    """True when some Allow statement matches and no Deny does (conditions are taken as met)."""
    statements = document["Statement"]
    if any(s["Effect"] == "Deny" and _statement_matches(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _statement_matches(s, action, resource) for s in statements)


def trust_admits(document: dict, claims: Mapping[str, str]) -> bool:
    """True when a statement allowing sts:AssumeRoleWithWebIdentity has every condition met by `claims`."""
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow" or statement["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        met = True
        for operator, tests in statement.get("Condition", {}).items():
            for key, expected in tests.items():
                value = claims.get(key.split(":", 1)[1] if key.count(":") else key)
                if operator == "StringEquals":
                    met &= value in _as_list(expected)
                elif operator == "StringLike":
                    met &= value is not None and any(fnmatchcase(value, p) for p in _as_list(expected))
                else:
                    raise AssertionError(f"trust_admits does not evaluate {operator}")
        if met:
            return True
    return False


def _kms_key_state(args: Any, name: str) -> dict[str, str]:
    key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    return {"keyId": key_id, "arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"}


@pytest.fixture
def run_bootstrap(pulumi_mocks: PulumiMocks, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ProgramRun]:
    """`run_bootstrap(config)`: run bootstrap/__main__.py under mocks; see the module docstring."""
    pulumi_mocks.mocks.computed["aws:iam/openIdConnectProvider:OpenIdConnectProvider"] = lambda a, n: {
        "arn": GITHUB_PROVIDER_ARN
    }
    pulumi_mocks.mocks.computed["aws:kms/key:Key"] = _kms_key_state

    def run(config: Mapping[str, Any]) -> ProgramRun:
        return run_pulumi_program(
            BOOTSTRAP / "__main__.py",
            pulumi_mocks,
            monkeypatch,
            project=BOOTSTRAP_PROJECT,
            stack="ci",
            config=config,
        )

    return run
