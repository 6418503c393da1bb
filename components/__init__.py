"""The Pulumi components of sagemaker-llm: one ComponentResource per thing a person would name."""

from __future__ import annotations

import pulumi


def stack_path(*parts: str) -> str:
    """`/<project>/<stack>/<parts…>`: a name unique to this stack, for log groups and SSM parameters."""
    return "/" + "/".join((pulumi.get_project(), pulumi.get_stack(), *parts))
