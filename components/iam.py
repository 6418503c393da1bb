"""IAM documents, written once: the policy and trust documents every role of the stack (and of bootstrap/) uses,
and the statements components hand each other (`ModelEndpoint.invoke_statement()` and the like).

Plain dicts whose values may be Pulumi Outputs: pass a document built from outputs to `pulumi.Output.json_dumps`,
one built from plain strings to `json.dumps`. Keys keep IAM's usual order (Sid, Effect, Principal, Action,
Resource, Condition), so a document reads as AWS's examples do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The current IAM policy language; the only version that knows policy variables.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html
POLICY_VERSION = "2012-10-17"


def policy_document(statements: Sequence[Any]) -> dict[str, Any]:
    """A policy document holding `statements` (statements or Outputs of statements), in order."""
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def allow(action: Any, resource: Any, *, sid: str | None = None, condition: Any = None) -> dict[str, Any]:
    """A statement allowing `action` (a name or a list) on `resource` (an ARN, a list, or "*")."""
    return _statement("Allow", action, resource, sid=sid, condition=condition)


def deny(action: Any, resource: Any, *, sid: str | None = None, condition: Any = None) -> dict[str, Any]:
    """A statement denying `action` on `resource`: it wins over every allow."""
    return _statement("Deny", action, resource, sid=sid, condition=condition)


def service_trust_policy(service: str, condition: Any = None) -> dict[str, Any]:
    """A trust policy letting one AWS service (`lambda.amazonaws.com`) assume the role, under `condition`."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition is not None:
        statement["Condition"] = condition
    return policy_document([statement])


def web_identity_trust_policy(provider_arn: Any, condition: Any, *, sid: str) -> dict[str, Any]:
    """A trust policy letting tokens of one OIDC provider that meet `condition` assume the role."""
    statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    }
    return policy_document([statement])


def _statement(effect: str, action: Any, resource: Any, *, sid: str | None, condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {} if sid is None else {"Sid": sid}
    statement |= {"Effect": effect, "Action": action, "Resource": resource}
    if condition is not None:
        statement["Condition"] = condition
    return statement
