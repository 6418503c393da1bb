"""The real engine serving LoRA adapters as SageMaker's adapter inference components, as pytest fixtures.

    vLLM 0.27.1 --enable-lora ◀─ SageMakerRuntime: base component + one adapter component per adapter ◀─ the proxy

Loaded with tests/engine/fixtures.py (tests/conftest.py); nothing starts unless a test asks:

- `lora_model` (session): a tiny Llama and two adapters of it, made now by make_lora_model.py (about 30 s):
  `base/`, and `adapters/<name>.tar.gz` packed as an adapter component's ArtifactUrl wants them.
- `lora_engine` (session) → `Engine(url, model)`: vLLM on the base with the variables ModelEndpoint gives
  the container for these adapters (`lora_environment`: --enable-lora, --max-lora-rank, --max-loras, and
  VLLM_ALLOW_RUNTIME_LORA_UPDATING); its log is tests/engine/artifacts/vllm-lora.log.
- `lora_relay` (session): the SageMaker runtime emulator with the base component and each adapter component
  on the endpoint, every adapter registered with the container as SageMaker does (POST /adapters).
- `lora_proxy_env` (per test): the proxy's environment as ProxyFunction sets it for such a stack
  (INFERENCE_COMPONENT_NAME, ADAPTERS), pointed at that relay.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.component_hosting import base_component_name
from components.lora_adapters import adapter_component_name
from components.model_endpoint import lora_environment
from components.proxy_function import proxy_environment
from openai_proxy.contract import ENV
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from tests.engine.fixtures import API_KEY, Engine, make_model, running_engine, tiny_container
from tests.fakes import configure_proxy

BASE_MODEL = "tiny-llama"
ADAPTERS = ("tiny-support", "tiny-legal")  # make_lora_model.py's, of ranks 8 and 16
LORA_ENDPOINT = "lora-endpoint"
MAX_LORA_RANK = 16


def adapter_components() -> dict[str, str]:
    """Public name of each adapter → its component, named as ModelEndpoint names them."""
    return {name: adapter_component_name(LORA_ENDPOINT, name) for name in ADAPTERS}


@pytest.fixture(scope="session")
def lora_model(engine_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(engine_venv, "make_lora_model.py", tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def lora_engine(engine_venv: Path, lora_model: Path) -> Iterator[Engine]:
    # What ModelEndpoint gives the container for two adapters.
    adapters = lora_environment(dict.fromkeys(ADAPTERS, "s3://unused/a.tar.gz"), MAX_LORA_RANK)
    container = tiny_container(lora_model / "base", BASE_MODEL, **adapters)
    with running_engine(engine_venv, container, "vllm-lora.log") as url:
        yield Engine(url, BASE_MODEL)


@pytest.fixture(scope="session")
def lora_relay(lora_engine: Engine, lora_model: Path) -> Iterator[SageMakerRuntime]:
    with SageMakerRuntime() as runtime:
        base = base_component_name(LORA_ENDPOINT)
        runtime.serve_inference_component(LORA_ENDPOINT, base, lora_engine.url)
        for name, component in adapter_components().items():
            runtime.serve_adapter_component(LORA_ENDPOINT, component, base, lora_model / "adapters" / f"{name}.tar.gz")
        yield runtime


@pytest.fixture
def lora_proxy_env(monkeypatch: pytest.MonkeyPatch, lora_relay: SageMakerRuntime) -> Iterator[SageMakerRuntime]:
    """The proxy as ProxyFunction configures it for a stack with these adapters, in front of the relay."""
    lora_relay.reset()
    configure_proxy(monkeypatch, lora_relay.url, endpoint=LORA_ENDPOINT, served_model_name=BASE_MODEL, api_key=API_KEY)
    stack = proxy_environment(
        endpoint_name=LORA_ENDPOINT,
        served_model_name=BASE_MODEL,
        dialect="openai",
        max_output_tokens=64,
        inference_component_name=base_component_name(LORA_ENDPOINT),
        adapters=adapter_components(),
    )
    for name in (ENV.inference_component_name, ENV.adapters):
        monkeypatch.setenv(name, str(stack[name]))
    yield lora_relay
    lora_relay.reset()
