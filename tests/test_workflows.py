"""The workflows hand the deploy role only to jobs in the deploy environments, never to a pull request's code.

Read with PyYAML (which reads the bare key `on` as True). The OIDC subject each job would get is derived
from its trigger and environment, as GitHub's default subject template builds it, and checked against the
trust policies bootstrap/ creates.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_DIR = ROOT / ".github" / "workflows"
TEXTS = {p.name: p.read_text() for p in sorted(WORKFLOW_DIR.glob("*.y*ml"))}
WORKFLOWS = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
BOOTSTRAP_CONFIG = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.yaml").read_text())["config"]
DEPLOY_ROLE = re.compile(r"\bvars\.AWS_ROLE_ARN\b")
PREVIEW_ROLE = "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
DEPLOY_ENVIRONMENTS = BOOTSTRAP_CONFIG["deployEnvironments"]["default"]
PREVIEW_ENVIRONMENT = BOOTSTRAP_CONFIG["previewEnvironment"]["default"]
# Events whose workflow file and code come from a branch that has not been reviewed.
UNREVIEWED_EVENTS = {"pull_request", "pull_request_target", "push_to_any_branch"}


def _triggers(workflow: dict) -> set[str]:
    on = workflow[True]
    events = {on} if isinstance(on, str) else set(on)
    push = on.get("push") if isinstance(on, dict) else None
    if "push" in events and (not push or push.get("branches") != ["main"]):
        events.add("push_to_any_branch")
    return events


def _jobs(name: str) -> dict[str, dict]:
    return WORKFLOWS[name]["jobs"]


def _credentials(job: dict) -> list[dict]:
    return [s["with"] for s in job.get("steps", []) if s.get("uses", "").startswith("aws-actions/configure-aws-")]


def _secrets(text: str) -> set[str]:
    return set(re.findall(r"\bsecrets\.([A-Za-z_][A-Za-z0-9_]*)", text))


def test_preview_never_names_the_deploy_role():
    assert not DEPLOY_ROLE.search(TEXTS["preview.yml"])


def test_preview_assumes_the_preview_role_in_the_preview_environment():
    (job,) = _jobs("preview.yml").values()
    assert job["environment"] == PREVIEW_ENVIRONMENT
    assert [c["role-to-assume"] for c in _credentials(job)] == [PREVIEW_ROLE]


def test_preview_names_no_deploy_environment_and_no_deploy_secret():
    text = TEXTS["preview.yml"]
    for env in DEPLOY_ENVIRONMENTS:
        assert not re.search(rf"environment:\s*['\"]?{env}\b", text), env
    deploy_secrets = _secrets(TEXTS["deploy.yml"]) | _secrets(TEXTS["destroy.yml"])
    assert _secrets(text) & deploy_secrets <= {"GITHUB_TOKEN"}


def test_preview_skips_pull_requests_from_forks_which_get_no_token():
    (job,) = _jobs("preview.yml").values()
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def _pulumi_steps(job: dict) -> list[dict]:
    return [s["with"] for s in job.get("steps", []) if s.get("uses", "").startswith("pulumi/actions@")]


def test_preview_previews_the_one_stack_whose_state_and_secrets_key_the_preview_role_may_read():
    # bootstrap's previewStack: its checkpoint and KMS key are the only ones the preview role may read.
    (job,) = _jobs("preview.yml").values()
    assert [p["stack-name"] for p in _pulumi_steps(job)] == [BOOTSTRAP_CONFIG["previewStack"]["default"]]


@pytest.mark.parametrize("name", ["deploy.yml", "destroy.yml"])
def test_deploy_jobs_run_the_stack_of_their_environment(name):
    # The environment holds that stack's secrets (its passphrase); a stack's KMS key is named after the stack.
    for job in _jobs(name).values():
        for pulumi in _pulumi_steps(job):
            assert pulumi["stack-name"] == job["environment"], name


def test_preview_does_not_refresh_since_its_role_cannot_read_the_resources():
    (job,) = _jobs("preview.yml").values()
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["refresh"] is False


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_deploy_role_is_assumed_only_in_a_job_with_an_environment(name):
    for job_id, job in _jobs(name).items():
        for credentials in _credentials(job):
            if DEPLOY_ROLE.search(credentials["role-to-assume"]):
                assert job.get("environment"), f"{name}:{job_id} assumes the deploy role without an environment"
                assert PREVIEW_ENVIRONMENT not in str(job["environment"]), (name, job_id)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_no_workflow_run_by_unreviewed_code_names_the_deploy_role(name):
    if _triggers(WORKFLOWS[name]) & UNREVIEWED_EVENTS:
        assert not DEPLOY_ROLE.search(TEXTS[name]), name


def test_only_deploy_and_destroy_name_the_deploy_role():
    assert {name for name, text in TEXTS.items() if DEPLOY_ROLE.search(text)} == {"deploy.yml", "destroy.yml"}


def test_deploy_runs_from_main_and_defaults_to_the_dev_environment():
    workflow = WORKFLOWS["deploy.yml"]
    assert workflow[True]["push"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    assert job["if"].replace('"', "'") == "github.ref == 'refs/heads/main'"
    assert job["environment"] == "${{ inputs.stack || 'dev' }}"
    assert "dev" in DEPLOY_ENVIRONMENTS


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_every_action_and_reusable_workflow_is_pinned_by_commit(name):
    for ref in re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)", TEXTS[name], flags=re.MULTILINE):
        assert ref.startswith("./") or re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), ref


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_id_token_is_granted_only_where_a_role_is_assumed(name):
    workflow = WORKFLOWS[name]
    grants = [workflow.get("permissions", {}), *(j.get("permissions", {}) for j in workflow["jobs"].values())]
    if any(isinstance(g, dict) and g.get("id-token") == "write" for g in grants):
        assert any(_credentials(job) for job in workflow["jobs"].values()), name


# -- The subjects the jobs get, against the trust policies of bootstrap/ ----------------------------------

REPOSITORY = "octo-org/sagemaker-llm"


def _subjects(name: str) -> set[str]:
    """Every OIDC `sub` a job of this workflow that assumes a role can get (default subject template)."""
    subjects = set()
    for job in _jobs(name).values():
        if not _credentials(job):
            continue
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment["name"]
        if environment and "${{" in environment:
            # An expression picks the stack: any deploy environment, or whatever a person types.
            names = [*DEPLOY_ENVIRONMENTS, PREVIEW_ENVIRONMENT, "typed-by-hand"]
        elif environment:
            names = [environment]
        else:
            names = []
        subjects |= {f"repo:{REPOSITORY}:environment:{n}" for n in names}
        if not environment:
            subjects.add(f"repo:{REPOSITORY}:pull_request")
    return subjects


@pytest.fixture
def trust_policies():
    sys.path.insert(0, str(ROOT / "bootstrap"))
    try:
        from ci_policies import trust_policy
        from ci_settings import validate
    finally:
        sys.path.remove(str(ROOT / "bootstrap"))
    defaults = {k: s["default"] for k, s in BOOTSTRAP_CONFIG.items() if "default" in s}
    settings = validate({**defaults, "githubRepository": REPOSITORY})
    provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    return {
        "preview": trust_policy(provider, [settings.preview_subject()]),
        "deploy": trust_policy(provider, settings.deploy_subjects()),
    }


def _admitted(policy: dict, subject: str) -> bool:
    (statement,) = policy["Statement"]
    return subject in statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]


def test_the_preview_job_gets_the_preview_role_and_not_the_deploy_role(trust_policies):
    (subject,) = _subjects("preview.yml")
    assert _admitted(trust_policies["preview"], subject)
    assert not _admitted(trust_policies["deploy"], subject)


@pytest.mark.parametrize("name", ["deploy.yml", "destroy.yml"])
def test_deploy_jobs_get_the_deploy_role_only_in_a_deploy_environment(trust_policies, name):
    admitted = {s for s in _subjects(name) if _admitted(trust_policies["deploy"], s)}
    assert admitted == {f"repo:{REPOSITORY}:environment:{env}" for env in DEPLOY_ENVIRONMENTS}


def test_deploy_shows_smoke_status_of_the_stack_it_deployed_in_its_summary_without_failing_on_an_alarm():
    (job,) = WORKFLOWS["deploy.yml"]["jobs"].values()
    steps = job["steps"]
    (up,) = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("pulumi/actions@")]
    (status,) = [i for i, s in enumerate(steps) if "smoke status" in s.get("run", "")]
    assert status > up  # the health of what was just deployed
    step = steps[status]
    assert step["env"]["STACK"] == steps[up]["with"]["stack-name"]
    assert step["env"]["PULUMI_BACKEND_URL"] == steps[up]["with"]["cloud-url"]  # the same backend as the deploy
    assert 'uv run smoke status --stack "$STACK" 2>&1 || true' in step["run"]  # exit 1 (an alarm) is no failed deploy
    assert '>> "$GITHUB_STEP_SUMMARY"' in step["run"]
