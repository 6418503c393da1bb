"""The promises the repository itself makes: docs/configuration.md matches Pulumi.yaml, CI runs README's command."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
WORKFLOWS = {p.name: yaml.safe_load(p.read_text()) for p in (ROOT / ".github" / "workflows").glob("*.yml")}


def _config_table() -> dict[str, tuple[str, str]]:
    # One table per concern (model and endpoint, scaling, API, UI); together they list every key once.
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| `([^`]*)` \|", CONFIGURATION, flags=re.MULTILINE)
    assert len(rows) == len({key for key, _, _ in rows}), "a key is listed twice"
    return {key: (kind.strip(), default) for key, kind, default in rows}


def _as_documented_default(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value)


def test_configuration_doc_lists_exactly_the_project_config_keys():
    assert set(_config_table()) == set(PROJECT["config"])


def test_configuration_doc_has_a_table_per_group_of_pulumi_yaml_with_its_keys_in_order():
    from components.settings import project_schema

    sections = (section.split("\n", 1) for section in re.split(r"^## ", CONFIGURATION, flags=re.MULTILINE)[1:])
    tables = {title: tuple(re.findall(r"^\| `(\w+)` \|", body, flags=re.MULTILINE)) for title, body in sections}
    assert [(title, keys) for title, keys in tables.items() if keys] == list(project_schema().groups.items())


def test_configuration_doc_shows_each_keys_type_and_default():
    table = _config_table()
    for key, schema in PROJECT["config"].items():
        kind, default = table[key]
        assert kind.split()[0] == schema.get("type", "object"), key  # Pulumi.yaml declares objects untyped
        assert default == _as_documented_default(schema["default"]), key


def test_readme_keys_table_shows_project_config_keys_with_their_defaults():
    # README's short table of the keys set first: | `key` (or `a` / `b`) | `default` | what for |
    section = README.split("## The keys you will set first", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ((?:`\w+`(?: / |, )?)+) \| `([^`]*)` \|", section, flags=re.MULTILINE)
    assert rows
    for keys, default in rows:
        for key in re.findall(r"`(\w+)`", keys):
            assert key in PROJECT["config"], key
            assert default == _as_documented_default(PROJECT["config"][key]["default"]), key


def test_every_config_key_has_a_default_so_a_new_stack_needs_no_setup():
    # Pulumi treats a typed key without a default as required: `pulumi up` would stop on it.
    missing = [key for key, schema in PROJECT["config"].items() if "default" not in schema]
    assert missing == []


def test_project_runs_under_the_uv_toolchain():
    assert PROJECT["name"] == "sagemaker-llm"
    assert PROJECT["runtime"] == {"name": "python", "options": {"toolchain": "uv"}}


def test_ci_gate_runs_exactly_the_readme_test_commands():
    readme_command = re.search(r"```bash\n(uv run pytest)\n```", README).group(1)
    gate_commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    runnable = [line for line in gate_commands if line and not line.startswith("#")]
    suites = [line for line in runnable if line.startswith("uv run pytest")]
    # The fast suite first, then the heavy suites, each exactly as README gives its command.
    assert suites == [readme_command, "uv run pytest -m engine", "uv run pytest -m e2e tests/e2e"]
    assert all(suite in README for suite in suites)
    assert runnable[-1] == suites[-1]


def test_readme_deploy_command_is_pulumi_up_on_the_dev_stack():
    assert "pulumi up --stack dev" in README
    assert (ROOT / "Pulumi.dev.yaml").exists()


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflow_actions_are_pinned_to_a_commit(name):
    for step in _steps(WORKFLOWS[name]):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


@pytest.mark.parametrize(
    ("name", "command"), [("preview.yml", "preview"), ("deploy.yml", "up"), ("destroy.yml", "destroy")]
)
def test_pulumi_workflows_install_the_project_and_assume_a_role_before_the_pulumi_action(name, command):
    workflow = WORKFLOWS[name]
    steps = _steps(workflow)
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    pulumi_at = uses.index("pulumi/actions")
    assert steps[pulumi_at]["with"]["command"] == command
    assert uses.index("astral-sh/setup-uv") < pulumi_at
    assert any(step.get("run") == "uv sync --frozen" for step in steps[:pulumi_at])
    assert uses.index("aws-actions/configure-aws-credentials") < pulumi_at
    credentials = steps[uses.index("aws-actions/configure-aws-credentials")]["with"]
    assert "role-to-assume" in credentials
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials)
    assert workflow["permissions"]["id-token"] == "write"


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml", "destroy.yml"])
def test_pulumi_action_is_pinned_at_a_v7_release(name):
    text = (ROOT / ".github" / "workflows" / name).read_text()
    versions = re.findall(r"uses: pulumi/actions@[0-9a-f]{40} # (v[\d.]+)", text)
    assert versions and all(v.split(".")[0] == "v7" for v in versions)


def test_destroy_runs_only_when_confirmed():
    workflow = WORKFLOWS["destroy.yml"]
    # PyYAML reads the bare key `on` as True.
    inputs = workflow[True]["workflow_dispatch"]["inputs"]
    assert {"stack", "confirm"} <= set(inputs)
    (job,) = workflow["jobs"].values()
    assert job["if"].replace('"', "'") == "inputs.confirm == 'DESTROY'"


@pytest.mark.parametrize("name", ["deploy.yml", "destroy.yml"])
def test_deployments_of_a_stack_queue_instead_of_cancelling(name):
    concurrency = WORKFLOWS[name]["concurrency"]
    assert "stack" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def test_no_workflow_interpolates_inputs_into_a_shell_script():
    for name, workflow in WORKFLOWS.items():
        for step in _steps(workflow):
            assert "${{" not in step.get("run", ""), (name, step["run"])


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ("feat(proxy): stream tool calls\n", True),
        ("fix: keep chat history on update\n", True),
        ("Update stuff\n", False),
        ("feature: not a type\n", False),
    ],
)
def test_commit_msg_hook_accepts_only_conventional_commits(tmp_path, message, accepted):
    message_file = tmp_path / "COMMIT_EDITMSG"
    message_file.write_text(message)
    result = subprocess.run(
        ["bash", str(ROOT / ".githooks" / "commit-msg"), str(message_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert (result.returncode == 0) == accepted, result.stdout + result.stderr


def test_commitizen_is_configured_for_conventional_commits():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["commitizen"]
    assert config["name"] == "cz_conventional_commits"
    assert config["version_provider"] == "pep621"


def test_benchmarks_import_the_project_not_the_tests():
    """bench/ runs by hand from a checkout: it uses the project's own modules (sagemaker_llm_local's fixtures),
    so a change to a test helper can't silently break a benchmark, and a test can't lean on a benchmark."""
    import ast

    for script in sorted((ROOT / "bench").glob("*.py")):
        tree = ast.parse(script.read_text())
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] != "tests", f"{script.name} imports {name}"
