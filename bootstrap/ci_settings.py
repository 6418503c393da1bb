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

_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
# GitHub environment names: no colon, so a subject cannot be forged by a name holding ":ref:".
_ENVIRONMENT = re.compile(r"[A-Za-z0-9._ -]{1,255}")
_BRANCH = re.compile(r"[A-Za-z0-9._/-]+")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KMS_KEY = re.compile(r"arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key/(?:[0-9a-f-]{36}|mrk-[0-9a-f]{32})")
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
    kms_key_arn: str
    """KMS key of the awskms:// secrets provider, or empty (passphrase or Pulumi Cloud)."""
    oidc_provider_arn: str
    """An existing GitHub OIDC provider to reuse, or empty to create one."""

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
        if not isinstance(env, str) or not _ENVIRONMENT.fullmatch(env):
            problems.append(f"deployEnvironments: {env!r} is not a GitHub environment name (no ':').")
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
    key = str(v["kmsKeyArn"])
    if key and not _KMS_KEY.fullmatch(key):
        problems.append(f"kmsKeyArn: {key!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; not an alias).")
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
        kms_key_arn=key,
        oidc_provider_arn=provider,
    )
