"""`sagemaker-llm-local --model <tiny model> --no-ui` serves a chat through the proxy on the real engine, and
SIGTERM leaves no process behind: the command a user runs, run as a user runs it."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

pytestmark = pytest.mark.engine

COMMAND = str(Path(sys.executable).parent / "sagemaker-llm-local")
START_SECONDS = 420


@dataclass
class Running:
    process: subprocess.Popen
    output: list[str]
    base_url: str
    api_key: str


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The command's output, line by line, read aside so that waiting for a line can time out."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def proc_table() -> dict[int, tuple[int, int, str]]:
    """pid → (parent pid, process group, state) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def descendants(pid: int) -> set[int]:
    table = proc_table()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (parent, _, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.fixture
def local_chain(engine_venv: Path, tiny_model: Path, tmp_path: Path) -> Iterator[Running]:
    env = os.environ | {"VLLM_ENGINE_VENV": str(engine_venv), "XDG_DATA_HOME": str(tmp_path / "data")}
    command = [COMMAND, "--model", str(tiny_model), "--no-ui", "--api-port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, output = lines_of(process), []
    try:
        while not output or output[-1] != "Press Ctrl-C to stop.":
            line = lines.get(timeout=START_SECONDS)
            if line is None:
                pytest.fail(f"sagemaker-llm-local exited ({process.wait()}):\n" + "\n".join(output))
            output.append(line)
        text = "\n".join(output)
        base_url = re.search(r"OpenAI base URL: (\S+)", text)[1]
        api_key = re.search(r"API key: (\S+)", text)[1]
        yield Running(process, output, base_url, api_key)
    finally:
        if process.poll() is None:  # the test failed before its SIGTERM: end the command and its process groups
            children = descendants(process.pid)
            process.kill()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            process.wait(10)


def test_a_chat_through_the_local_chain_then_sigterm_leaves_no_process(local_chain: Running):
    client = openai.OpenAI(base_url=local_chain.base_url, api_key=local_chain.api_key, max_retries=0, timeout=120)

    assert [model.id for model in client.models.list()] == [
        "model"
    ]  # the folder's name: the stack has no servedModelName
    answer = client.chat.completions.create(model="model", messages=[{"role": "user", "content": "How are you?"}])
    streamed = client.chat.completions.create(
        model="model", messages=[{"role": "user", "content": "What time is it?"}], stream=True
    )
    streamed_text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=local_chain.base_url, api_key="not-the-key", max_retries=0).models.list()

    assert answer.choices[0].finish_reason in ("stop", "length") and answer.usage.completion_tokens > 0
    # The tiny model writes both sides of a chat; the dev stack's chatStopSequences end the turn before "User:".
    assert "User:" not in answer.choices[0].message.content
    assert "User:" not in streamed_text

    started = descendants(local_chain.process.pid)
    groups = {proc_table()[pid][1] for pid in started if pid in proc_table()}
    assert len(started) >= 4  # the proxy, vLLM, its engine core and its worker at least

    local_chain.process.send_signal(signal.SIGTERM)
    assert local_chain.process.wait(60) == 0

    left = {pid: info for pid, info in proc_table().items() if (pid in started or info[1] in groups) and info[2] != "Z"}
    assert left == {}, left
