"""`sagemaker-llm-local --adapter NAME=PATH`: LoRA adapters from this machine, served as the stack serves its own.

vLLM and the proxy get what a stack with those adapters deploys; a bad `--adapter` is one line and exit code 2,
before anything starts (here with no vLLM installed at all, so a refusal that came later would read differently).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml

from sagemaker_llm_local import cli, stack
from sagemaker_llm_local.engine import container_flags, container_process_variables
from sagemaker_llm_local.local_adapters import local_adapters, unserved_notice
from sagemaker_llm_local.stack import container_variables, proxy_variables, read_stack
from tests.local.test_cli_refusals import assert_one_line, run
from tests.pulumi_harness import stack_file_config
from tests.resource_types import FUNCTION, MODEL

# The dev stack with two adapters and always on: with adapters alone the model becomes an inference component.
LORA_STACK = stack_file_config("dev") | {
    "sagemaker-llm:scaleToZero": False,
    "sagemaker-llm:adapters": {"support": "s3://ft-bucket/support.tar.gz", "legal.v2": "s3://ft-bucket/legal.tar.gz"},
}


def adapter_folder(parent: Path, name: str, rank: int = 8) -> Path:
    """What PEFT's save_pretrained writes (the weights' bytes do not matter before vLLM loads them)."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": rank, "lora_alpha": rank}))
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    return folder


def archive(folder: Path, *, at_root: bool = True) -> Path:
    path = folder.with_suffix(".tar.gz")
    with tarfile.open(path, "w:gz") as bundle:
        for file in sorted(folder.iterdir()):
            bundle.add(file, arcname=file.name if at_root else f"{folder.name}/{file.name}")
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A folder `--model` accepts (the public model id is its name, `model`)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def stack_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where sagemaker-llm-local reads Pulumi.<stack>.yaml from: the dev stack's, and LORA_STACK as `lora`."""
    folder = tmp_path / "stacks"
    folder.mkdir()
    (folder / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": stack_file_config("dev")}))
    (folder / "Pulumi.lora.yaml").write_text(yaml.safe_dump({"config": LORA_STACK}))
    monkeypatch.setattr(stack, "stack_file", lambda name: folder / f"Pulumi.{name}.yaml")
    return folder


def test_vllm_and_the_proxy_get_what_the_stack_with_those_adapters_deploys(tmp_path, stack_files, run_program):
    local = read_stack("lora")
    settings = local.settings
    given = [f"support={adapter_folder(tmp_path, 'support')}", f"legal.v2={archive(adapter_folder(tmp_path, 'l'))}"]
    local = stack.LocalStack(local.name, settings, local.region, local_adapters(given, settings, "distilgpt2"))
    container = container_variables(settings, settings.model_id, settings.effective_served_model_name, local.adapters)
    proxy = proxy_variables(local, settings.effective_served_model_name, api_key="local-key")

    deployed = run_program(LORA_STACK, stack="lora")

    assert container == deployed.one(MODEL).inputs["primaryContainer"]["environment"]
    flags = container_flags(container)
    assert " ".join(flags).endswith("--enable-lora --max-lora-rank 16 --max-loras 2")
    assert container_process_variables(container) == {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "true"}
    function = deployed.one(FUNCTION).inputs["environment"]["variables"]
    assert json.loads(proxy["ADAPTERS"]) == json.loads(function["ADAPTERS"])
    assert list(json.loads(proxy["ADAPTERS"])) == ["support", "legal.v2"]  # /v1/models lists them in this order
    assert proxy["INFERENCE_COMPONENT_NAME"] == function["INFERENCE_COMPONENT_NAME"]


def test_an_adapter_makes_the_model_an_inference_component_as_a_deploy_with_it_would(tmp_path, stack_files):
    always_on = stack_file_config("dev") | {"sagemaker-llm:scaleToZero": False}
    (stack_files / "Pulumi.plain.yaml").write_text(yaml.safe_dump({"config": always_on}))
    plain = read_stack("plain")
    assert "INFERENCE_COMPONENT_NAME" not in proxy_variables(plain, "model", api_key="k")

    given = local_adapters([f"ft={adapter_folder(tmp_path, 'ft')}"], plain.settings, "model")
    proxy = proxy_variables(stack.LocalStack("plain", plain.settings, plain.region, given), "model", api_key="k")

    assert proxy["INFERENCE_COMPONENT_NAME"] == "sagemaker-llm-plain-model"
    assert json.loads(proxy["ADAPTERS"]) == {"ft": "sagemaker-llm-plain-lora-ft"}


def test_the_stacks_adapters_not_given_here_are_named_in_one_line(tmp_path, stack_files):
    settings = read_stack("lora").settings

    notice = unserved_notice(settings, local_adapters([f"support={adapter_folder(tmp_path, 's')}"], settings, "m"))

    assert notice == (
        "The stack's adapters legal.v2 are S3 archives, not fetched here: to try one, pass --adapter NAME=DIR "
        "(its PEFT folder or .tar.gz)."
    )
    assert "adapters legal.v2, support are S3 archives" in unserved_notice(settings, {})
    assert unserved_notice(read_stack("dev").settings, {}) == ""


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: ["support"], "--adapter support: give NAME=PATH"),
        (lambda tmp: ["=x"], "--adapter =x: give NAME=PATH"),
        (lambda tmp: [f"bad name={adapter_folder(tmp, 'a')}"], "--adapter: 'bad name' is not a model name"),
        (lambda tmp: [f"model={adapter_folder(tmp, 'a')}"], "--adapter model: the base model is already called"),
        (lambda tmp: [f"a.b={adapter_folder(tmp, 'a')}", f"a-b={tmp / 'a'}"], "the same inference component name"),
        (lambda tmp: [f"a={adapter_folder(tmp, 'a')}", f"a={tmp / 'a'}"], "--adapter a: given twice"),
        (lambda tmp: [f"a={tmp / 'none'}"], "none: no such folder or .tar.gz"),
        (lambda tmp: [f"a={tmp}"], "no adapter_config.json in that folder"),
        (
            lambda tmp: [f"a={archive(adapter_folder(tmp, 'a'), at_root=False)}"],
            "no adapter_config.json at the archive",
        ),
        (lambda tmp: [f"a={archive(adapter_folder(tmp, 'a')).with_name('x')}"], "no such folder or .tar.gz"),
        (lambda tmp: [f"a={adapter_folder(tmp, 'a') / 'adapter_config.json'}"], "not a .tar.gz of an adapter's files"),
        (lambda tmp: [f"a={adapter_folder(tmp, 'a', rank=0)}"], "is not a LoRA adapter's"),
        (
            lambda tmp: [f"a={archive(adapter_folder(tmp, 'a', rank=20))}"],
            "its rank 20 (`r` in adapter_config.json) is above the stack's maxLoraRank 16 (vLLM would refuse it, "
            "here as on SageMaker): `pulumi config set maxLoraRank 32`",
        ),
    ],
)
def test_a_bad_adapter_is_one_line_before_anything_starts(make, expected, model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VLLM_ENGINE_VENV", str(tmp_path / "no-vllm-here"))
    options = [arg for spec in make(tmp_path / "adapters") for arg in ("--adapter", spec)]
    (tmp_path / "adapters").mkdir(exist_ok=True)

    code = cli.main(["--model", str(model), "--no-ui", *options])

    printed = capsys.readouterr()
    assert code == 2
    assert printed.out == ""
    assert printed.err.count("\n") == 1 and printed.err.startswith("sagemaker-llm-local: --adapter")
    assert expected in printed.err


def test_a_bad_adapter_is_one_line_without_a_traceback_as_a_user_runs_it(model, tmp_path):
    result = run("--model", str(model), "--no-ui", "--adapter", f"x={adapter_folder(tmp_path, 'x', rank=1024)}")

    assert_one_line(result, "--adapter x: its rank 1024", "vLLM takes up to 512")
