"""The bootstrap's config, read once and validated: who may assume the CI roles, and what state they touch.

Defaults come from bootstrap/Pulumi.yaml's typed `config:` schema (the CLI applies them; mocks do not),
so a test and a real `pulumi up` read the same values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import yaml

PROJECT_FILE = Path(__file__).resolve().parent / "Pulumi.yaml"
PROJECT = yaml.safe_load(PROJECT_FILE.read_text())
# The program whose stacks CI previews and deploys: its name is in every state key and SSM parameter name.
MAIN_PROJECT = yaml.safe_load((PROJECT_FILE.parent.parent / "Pulumi.yaml").read_text())["name"]

_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
# GitHub environment names: no colon, so a subject cannot be forged by a name holding ":ref:".
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._ -]{1,255}")
# A deploy environment is also the name of the stack it deploys (deploy.yml passes one as the other).
_STACK = re.compile(r"[A-Za-z0-9._-]{1,100}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# An S3 key path; no `*` or `?`, which a policy's Resource would read as wildcards.
_PREFIX = re.compile(r"[A-Za-z0-9!_.'()-]+(?:/[A-Za-z0-9!_.'()-]+)*")
_OIDC_PROVIDER = re.compile(r"arn:aws[\w-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com")


class BootstrapConfigError(pulumi.RunError, ValueError):
    """The bootstrap config is invalid; a RunError, so the CLI prints the message without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid bootstrap config:\n{lines}")


@dataclass(frozen=True)
class CiSettings:
    """Everything the CI roles are built from."""

    github_repository: str
    """owner/name of the repository whose workflows assume the roles."""
    github_owner_id: str
    """The owner's numeric id for immutable OIDC subjects, or empty."""
    github_repository_id: str
    """The repository's numeric id for immutable OIDC subjects, or empty."""
    deploy_environments: tuple[str, ...]
    """GitHub environments that may assume the deploy role."""
    preview_environment: str
    """The GitHub environment that may assume the read-only preview role."""
    subject_includes_ref: bool
    """True when the repository's OIDC subject template is repo, context, ref."""
    deploy_branch: str
    """The branch that deploys."""
    state_bucket: str
    """S3 bucket of the Pulumi state, or empty (Pulumi Cloud)."""
    state_prefix: str
    """The path after the bucket in PULUMI_BACKEND_URL, without slashes at either end, or empty."""
    preview_stack: str
    """The one stack the preview workflow previews, whose state and secrets the preview role may read."""
    secrets_keys: bool
    """Create a KMS key per stack for its awskms:// secrets provider."""
    oidc_provider_arn: str
    """An existing GitHub OIDC provider to reuse, or empty to create one."""
    project: str = MAIN_PROJECT
    """The main program's project name."""

    @property
    def stacks(self) -> tuple[str, ...]:
        """The stacks CI deploys: one per deploy environment, of the same name."""
        return self.deploy_environments

    def secrets_key_alias(self, stack: str) -> str:
        """The alias of `stack`'s secrets key (with `secretsKeys`)."""
        return f"alias/{self.project}-{stack}"

    @property
    def subject_repo(self) -> str:
        """The `repo:` part of every subject: owner/name, or owner@id/name@id for immutable subjects."""
        if not self.github_owner_id:
            return f"repo:{self.github_repository}"
        owner, name = self.github_repository.split("/")
        return f"repo:{owner}@{self.github_owner_id}/{name}@{self.github_repository_id}"

    def deploy_subjects(self) -> list[str]:
        """The exact `sub` claims of deploy and destroy jobs, one per deploy environment."""
        ref = f":ref:refs/heads/{self.deploy_branch}" if self.subject_includes_ref else ""
        return [f"{self.subject_repo}:environment:{env}{ref}" for env in self.deploy_environments]

    def preview_subject(self) -> str:
        """The `sub` claim of the preview job (a pattern for StringLike when the ref of a PR is in it)."""
        ref = ":ref:refs/pull/*" if self.subject_includes_ref else ""
        return f"{self.subject_repo}:environment:{self.preview_environment}{ref}"


def _defaults() -> dict[str, object]:
    return {key: spec["default"] for key, spec in PROJECT["config"].items() if "default" in spec}


def load_ci_settings() -> CiSettings:
    """Read the stack config, apply Pulumi.yaml's defaults, and fail with every problem at once."""
    config = pulumi.Config()
    values = _defaults()
    for key, spec in PROJECT["config"].items():
        if spec["type"] == "array":
            found = config.get_object(key)
        elif spec["type"] == "boolean":
            found = config.get_bool(key)
        else:
            found = config.get(key)
        if found is not None:
            values[key] = found
    # Before per-stack keys one key served every stack; refuse it rather than ignore it.
    if config.get("kmsKeyArn"):
        values["kmsKeyArn"] = config.get("kmsKeyArn")
    return validate(values)


def validate(v: dict[str, object]) -> CiSettings:
    """`CiSettings` from config values (keys as in Pulumi.yaml), or a `BootstrapConfigError` naming each bad key."""
    problems: list[str] = []
    repository = str(v.get("githubRepository") or "")
    if not _REPOSITORY.fullmatch(repository):
        problems.append(
            f"githubRepository: {repository!r} is not owner/name; "
            "`pulumi config set githubRepository octo-org/sagemaker-llm`."
        )
    owner_id, repository_id = str(v["githubOwnerId"]), str(v["githubRepositoryId"])
    if bool(owner_id) != bool(repository_id) or not all(i.isdigit() for i in (owner_id, repository_id) if i):
        problems.append(
            "githubOwnerId, githubRepositoryId: set both numeric ids or neither; "
            "`gh api repos/OWNER/NAME --jq '.owner.id, .id'` prints them."
        )
    environments = v["deployEnvironments"]
    if not isinstance(environments, list) or not environments:
        problems.append(f"deployEnvironments: {json.dumps(environments)} is not a non-empty list of names.")
        environments = []
    for env in environments:
        if not isinstance(env, str) or not _STACK.fullmatch(env):
            problems.append(
                f"deployEnvironments: {env!r} is not both a GitHub environment and a stack name "
                "(letters, digits, '.', '_', '-'): each deploys the stack of its name."
            )
    preview = str(v["previewEnvironment"])
    if not _ENVIRONMENT.fullmatch(preview):
        problems.append(f"previewEnvironment: {preview!r} is not a GitHub environment name (no ':').")
    if preview in environments:
        problems.append(
            f"previewEnvironment: {preview!r} is also a deploy environment; pull requests would get the deploy role."
        )
    branch = str(v["deployBranch"])
    if not _BRANCH.fullmatch(branch) or "*" in branch:
        problems.append(f"deployBranch: {branch!r} is not a branch name.")
    bucket = str(v["stateBucket"])
    if bucket and not _BUCKET.fullmatch(bucket):
        problems.append(f"stateBucket: {bucket!r} is not a bucket name (only the name, without s3://).")
    prefix = str(v["statePrefix"]).strip("/")
    if prefix and not _PREFIX.fullmatch(prefix):
        problems.append(f"statePrefix: {prefix!r} is not the path of an s3:// URL (s3://bucket/PATH).")
    preview_stack = str(v["previewStack"])
    if preview_stack not in environments:
        problems.append(
            f"previewStack: {preview_stack!r} is not one of deployEnvironments {json.dumps(environments)}; "
            "it is the stack preview.yml previews (its `stack-name`)."
        )
    if v.get("kmsKeyArn"):
        problems.append(
            "kmsKeyArn: one key for every stack would let the preview decrypt every stack's secrets; remove it "
            "(`pulumi config rm kmsKeyArn`) and set `pulumi config set secretsKeys true` for a key per stack."
        )
    provider = str(v["oidcProviderArn"])
    if provider and not _OIDC_PROVIDER.fullmatch(provider):
        problems.append(
            f"oidcProviderArn: {provider!r} is not the ARN of a token.actions.githubusercontent.com OIDC provider."
        )
    if problems:
        raise BootstrapConfigError(problems)
    return CiSettings(
        github_repository=repository,
        github_owner_id=owner_id,
        github_repository_id=repository_id,
        deploy_environments=tuple(environments),
        preview_environment=preview,
        subject_includes_ref=bool(v["subjectIncludesRef"]),
        deploy_branch=branch,
        state_bucket=bucket,
        state_prefix=prefix,
        preview_stack=preview_stack,
        secrets_keys=bool(v["secretsKeys"]),
        oidc_provider_arn=provider,
    )
