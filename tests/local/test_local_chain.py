"""`sagemaker-llm-local --model <tiny model> --no-ui` serves a chat through the proxy on the real engine, and
SIGTERM leaves no process behind: the command a user runs, run as a user runs it. With `--adapter`, each LoRA
adapter is a model of the API that answers in its own words."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from sagemaker_llm_local.processes import descendants, proc_table
from tests.local.local_command import COMMAND, CommandFailed, Running, local_command

pytestmark = pytest.mark.engine


@pytest.fixture
def local_chain(engine_venv: Path, tiny_model: Path, tmp_path: Path) -> Iterator[Running]:
    env = {"VLLM_ENGINE_VENV": str(engine_venv), "XDG_DATA_HOME": str(tmp_path / "data")}
    try:
        with local_command(["--model", str(tiny_model), "--no-ui", "--api-port", "0"], env, start_seconds=420) as run:
            yield run
    except CommandFailed as failed:
        pytest.fail(str(failed))


@pytest.fixture
def chain_with_adapters(engine_venv: Path, lora_model: Path, tmp_path: Path) -> Iterator[Running]:
    """The tiny Llama with its two adapters (tests/engine/lora_fixtures.py), one as its folder, one as its archive."""
    adapters = lora_model / "adapters"
    args = ["--model", str(lora_model / "base"), "--no-ui", "--api-port", "0"]
    args += [
        "--adapter",
        f"tiny-support={adapters / 'tiny-support'}",
        "--adapter",
        f"tiny-legal={adapters}/tiny-legal.tar.gz",
    ]
    env = {"VLLM_ENGINE_VENV": str(engine_venv), "XDG_DATA_HOME": str(tmp_path / "data")}
    try:
        with local_command(args, env, start_seconds=420) as run:
            yield run
    except CommandFailed as failed:
        pytest.fail(str(failed))


def assert_sigterm_leaves_no_process(chain: Running) -> None:
    table = proc_table()
    started = descendants(chain.process.pid, table)
    # The groups it started lead with one of its own processes (each server is a session leader); another
    # group (the engine suite's own vLLM) never counts, even if a pid is reused between two reads of /proc.
    groups = {table[pid][1] for pid in started if pid in table} & started
    assert len(started) >= 4  # the proxy, vLLM, its engine core and its worker at least

    chain.process.send_signal(signal.SIGTERM)
    assert chain.process.wait(60) == 0

    left = {pid: info for pid, info in proc_table().items() if (pid in started or info[1] in groups) and info[2] != "Z"}
    assert left == {}, left


def test_a_chat_through_the_local_chain_then_sigterm_leaves_no_process(local_chain: Running):
    client = openai.OpenAI(base_url=local_chain.base_url, api_key=local_chain.api_key, max_retries=0, timeout=120)

    models = [model.id for model in client.models.list()]
    answer = client.chat.completions.create(model="model", messages=[{"role": "user", "content": "How are you?"}])
    streamed = client.chat.completions.create(
        model="model", messages=[{"role": "user", "content": "What time is it?"}], stream=True
    )
    streamed_text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=local_chain.base_url, api_key="not-the-key", max_retries=0).models.list()

    assert models == ["model"]  # the folder's name: the dev stack sets no servedModelName
    assert answer.choices[0].finish_reason in ("stop", "length") and answer.usage.completion_tokens > 0
    # The tiny model writes both sides of a chat; the dev stack's chatStopSequences end the turn before "User:".
    assert "User:" not in answer.choices[0].message.content
    assert "User:" not in streamed_text

    assert_sigterm_leaves_no_process(local_chain)


def test_each_adapter_answers_in_its_own_words_then_sigterm_leaves_no_process(chain_with_adapters: Running):
    client = openai.OpenAI(
        base_url=chain_with_adapters.base_url, api_key=chain_with_adapters.api_key, max_retries=0, timeout=120
    )
    models = [model.id for model in client.models.list()]
    question = [{"role": "user", "content": "what is the capital of france?"}]

    answers = {
        model: client.chat.completions.create(model=model, messages=question, max_tokens=8, temperature=0)
        for model in models
    }

    assert chain_with_adapters.printed(r"Adapters: (.+)") == ("tiny-support, tiny-legal",)
    assert models == ["base", "tiny-support", "tiny-legal"]  # the base model (its folder's name), then each adapter
    assert {model: answer.model for model, answer in answers.items()} == {model: model for model in models}
    texts = {model: answer.choices[0].message.content for model, answer in answers.items()}
    assert all(texts.values()) and len(set(texts.values())) == len(models), texts  # each adapter changes the words

    assert_sigterm_leaves_no_process(chain_with_adapters)


def test_an_adapter_vllm_refuses_stops_the_command_with_one_line_and_no_process_left(
    engine_venv: Path, lora_model: Path, tmp_path: Path
):
    broken = tmp_path / "broken"  # a rank vLLM takes, weights it cannot read: refused when registered
    broken.mkdir()
    (broken / "adapter_config.json").write_bytes(
        (lora_model / "adapters" / "tiny-support" / "adapter_config.json").read_bytes()
    )
    (broken / "adapter_model.safetensors").write_bytes(b"not safetensors")
    env = os.environ | {"VLLM_ENGINE_VENV": str(engine_venv), "XDG_DATA_HOME": str(tmp_path / "data")}
    args = ["--model", str(lora_model / "base"), "--no-ui", "--api-port", "0", "--adapter", f"broken={broken}"]
    process = subprocess.Popen([COMMAND, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    groups: set[int] = set()
    while process.poll() is None:  # what it starts, seen while it runs (it has ended them all once it exits)
        table = proc_table()
        started = descendants(process.pid, table)  # one read of /proc for both
        groups |= {table[pid][1] for pid in started if pid in table} & started  # groups it leads (see above)
        time.sleep(0.5)
    out, err = process.communicate()

    assert process.returncode == 1, out + err
    assert err.count("\n") == 1 and err.startswith("sagemaker-llm-local: --adapter broken: "), err
    assert "the container refused it" in err and "Traceback" not in err + out
    assert groups  # the proxy's and vLLM's
    left = {pid: info for pid, info in proc_table().items() if info[1] in groups and info[2] != "Z"}
    assert left == {}, left
