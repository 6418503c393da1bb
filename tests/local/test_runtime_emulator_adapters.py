"""The runtime emulator runs adapter inference components as SageMaker does: each adapter is unpacked and
registered with the base's container (POST /adapters), and its invocations reach that container with
X-Amzn-SageMaker-Adapter-Identifier naming it. boto3 alone talks to the emulator, as the proxy does."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from sagemaker_llm_local.adapter_components import ADAPTER_ALIAS, ADAPTER_IDENTIFIER, AdapterError
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.local.emulator_client import ContainerHandler, runtime_client, serving

CHAT = json.dumps({"model": "support", "messages": [{"role": "user", "content": "Hi"}]})


@pytest.fixture
def container() -> Iterator[tuple[str, list[dict]]]:
    """A container speaking SageMaker's adapter routes as vLLM does: POST /adapters, then /invocations."""
    seen: list[dict] = []

    class Handler(ContainerHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "body": body, **{k.lower(): v for k, v in self.headers.items()}})
            if self.path == "/adapters":
                files = sorted(p.name for p in Path(body["src"]).iterdir())
                ok = files == ["adapter_config.json", "adapter_model.safetensors"]
                answer = f"Adapter {self.headers[ADAPTER_ALIAS]} registered" if ok else f"no adapter in {files}"
                self.answer(200 if ok else 400, answer.encode(), "text/plain")
            else:
                self.answer(200, json.dumps({"object": "chat.completion", "choices": []}).encode())

    with serving(Handler) as url:
        yield url, seen


def _archive(folder: Path, name: str, *, at_root: bool = True) -> Path:
    adapter = folder / name
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    archive = folder / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        for path in sorted(adapter.iterdir()):
            bundle.add(path, arcname=path.name if at_root else f"{name}/{path.name}")
    return archive


def _invoke(runtime: SageMakerRuntime, component: str) -> dict:
    client = runtime_client(runtime.url)
    answer = client.invoke_endpoint(
        EndpointName="ep", InferenceComponentName=component, Body=CHAT, ContentType="application/json"
    )
    return json.loads(answer["Body"].read())


def test_an_adapter_is_registered_with_the_base_container_and_its_invocations_name_it(container, tmp_path):
    url, seen = container
    with SageMakerRuntime() as runtime:
        runtime.serve_inference_component("ep", "ep-model", url)
        runtime.serve_adapter_component("ep", "ep-lora-support", "ep-model", _archive(tmp_path, "support"))
        _invoke(runtime, "ep-lora-support")
        _invoke(runtime, "ep-model")

    register, adapter_call, base_call = seen
    assert register["path"] == "/adapters"
    assert register[ADAPTER_ALIAS.lower()] == "ep-lora-support"
    identifier = register["body"]["name"]
    # SageMaker's name for the adapter is not documented: the emulator's is neither the public nor the component name.
    assert identifier not in ("support", "ep-lora-support")
    assert adapter_call["path"] == "/invocations" and adapter_call[ADAPTER_IDENTIFIER.lower()] == identifier
    assert base_call["path"] == "/invocations" and ADAPTER_IDENTIFIER.lower() not in base_call


def test_the_archive_is_unpacked_with_its_files_at_the_root(container, tmp_path):
    url, seen = container
    with SageMakerRuntime() as runtime:
        runtime.serve_inference_component("ep", "ep-model", url)
        runtime.serve_adapter_component("ep", "ep-lora-support", "ep-model", _archive(tmp_path, "support"))
        source = Path(seen[0]["body"]["src"])
        assert sorted(p.name for p in source.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert not source.exists()  # the emulator's unpacked copies go with it


def test_an_archive_holding_a_folder_is_refused_as_sagemaker_would_fail_the_component(container, tmp_path):
    url, seen = container
    with SageMakerRuntime() as runtime:
        runtime.serve_inference_component("ep", "ep-model", url)
        with pytest.raises(AdapterError, match=r"no adapter_config\.json at the archive's root"):
            runtime.serve_adapter_component("ep", "ep-lora-x", "ep-model", _archive(tmp_path, "x", at_root=False))
    assert seen == []


def test_an_adapter_needs_its_base_component_served(container, tmp_path):
    with SageMakerRuntime() as runtime, pytest.raises(AdapterError, match="base component ep-model is not served"):
        runtime.serve_adapter_component("ep", "ep-lora-support", "ep-model", _archive(tmp_path, "support"))


def test_an_adapter_the_container_refuses_stops_with_its_answer(container, tmp_path):
    url, _ = container
    folder = tmp_path / "empty"
    folder.mkdir()
    with SageMakerRuntime() as runtime:
        runtime.serve_inference_component("ep", "ep-model", url)
        with pytest.raises(AdapterError, match=r"the container refused it \(400\): no adapter in \[\]"):
            runtime.serve_adapter_component("ep", "ep-lora-empty", "ep-model", folder)


def test_an_unknown_adapter_component_is_sagemakers_validation_error(container, tmp_path):
    url, _ = container
    with SageMakerRuntime() as runtime:
        runtime.serve_inference_component("ep", "ep-model", url)
        runtime.serve_adapter_component("ep", "ep-lora-support", "ep-model", _archive(tmp_path, "support"))
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            _invoke(runtime, "ep-lora-other")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
