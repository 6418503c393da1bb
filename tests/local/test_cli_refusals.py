"""`sagemaker-llm-local` refuses what cannot run with one line on stderr, no traceback, before starting anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMAND = str(Path(sys.executable).parent / "sagemaker-llm-local")


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("VLLM_ENGINE_VENV", "OPENWEBUI_E2E_VENV")}
    return subprocess.run(
        [COMMAND, *args], env=environment | env, capture_output=True, text=True, timeout=120, check=False
    )


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sagemaker-llm-local: ")
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in result.stderr


def test_a_wrong_model_is_one_line():
    result = run("--model", "/no/such/model-folder", "--no-ui")

    assert_one_line(result, "--model /no/such/model-folder: no such folder, and not a Hugging Face model id")


def test_a_folder_that_is_not_a_model_is_one_line(tmp_path):
    assert_one_line(run("--model", str(tmp_path), "--no-ui"), "not a Hugging Face model folder (no config.json")


def test_missing_vllm_names_the_command_that_installs_it(tmp_path):
    result = run("--no-ui", VLLM_ENGINE_VENV=str(tmp_path / "no-venv"))

    assert_one_line(result, "no vLLM found", str(tmp_path / "no-venv"), "tests/engine/setup.sh")


def test_a_python_without_vllm_is_one_line():
    assert_one_line(run("--vllm", sys.executable, "--no-ui"), f"{sys.executable} has no vLLM installed", "install it")


def test_an_unknown_stack_names_the_stacks_there_are():
    assert_one_line(run("--stack", "nope"), "no stack file Pulumi.nope.yaml", "dev", "prod")
    # A name Pulumi would refuse (a path, say) still lists this project's stacks, not another folder's.
    assert_one_line(run("--stack", "../x"), "no stack file Pulumi.../x.yaml", "(stacks: dev, prod)")


def test_an_empty_model_is_refused_not_taken_for_the_stacks():
    result = run("--model", "", "--no-ui")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "sagemaker-llm-local: error: --model must not be empty"


def test_a_port_out_of_range_is_one_line():
    assert_one_line(run("--api-port", "99999", "--no-ui"), "--api-port 99999: not a port number (0 to 65535)")
    assert_one_line(run("--api-port", "-1", "--no-ui"), "--api-port -1: not a port number (0 to 65535)")
