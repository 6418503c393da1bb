"""How long `sagemaker-llm-local --model <tiny model> --no-ui` takes to get ready, and to stop on SIGTERM.

    uv run python bench/local_chain_start.py [--runs 3] [--model DIR]

Needs the engine venv (`bash tests/engine/setup.sh`). Without --model it first makes the engine suite's
tiny GPT-2 with tests/engine/make_model.py (about 15 s, not timed). Each run starts the command as a user
does and times

- ready: from launch until it prints "Press Ctrl-C to stop." (the line a user waits for);
- stop: from SIGTERM until the command has exited and no process it started is left (zombies aside).

vLLM's compile cache (~/.cache/vllm) is kept between runs, as on a user's machine: the first run of a new
machine is slower. Prints min / median / max of each.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sagemaker_llm_local.engine import default_venv
from sagemaker_llm_local.processes import descendants, group_members, proc_table

ROOT = Path(__file__).resolve().parent.parent
COMMAND = str(Path(sys.executable).parent / "sagemaker-llm-local")
READY = "Press Ctrl-C to stop."
START_SECONDS = 600


def make_tiny_model(venv: Path, folder: Path) -> Path:
    """The engine suite's tiny GPT-2, made by running tests/engine/make_model.py (a script, not an import)."""
    template = folder / "chat_template.jinja"
    template.write_text(yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]["sagemaker-llm:chatTemplate"])
    script = ROOT / "tests" / "engine" / "make_model.py"
    command = [str(venv / "bin" / "python"), str(script), str(folder / "model"), "--chat-template-file", str(template)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        sys.exit(f"make_model.py failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return folder / "model"


def one_run(model: Path, data: Path, venv: Path) -> tuple[float, float]:
    """Seconds until ready, and from SIGTERM until no process of the command's group is left."""
    env = {**os.environ, "XDG_DATA_HOME": str(data), "VLLM_ENGINE_VENV": str(venv)}
    started = time.monotonic()
    process = subprocess.Popen(  # its own group, as a terminal gives it; it puts each server in a group of its own
        [COMMAND, "--model", str(model), "--no-ui", "--api-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in process.stdout:
            if READY in line:
                break
        else:
            sys.exit(f"sagemaker-llm-local ended before it was ready (exit {process.wait()})")
        ready = time.monotonic() - started
        groups = _groups_under(process.pid)
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(120)
        while any(group_members(group) for group in groups):
            time.sleep(0.05)
        return ready, time.monotonic() - stopping
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()


def _groups_under(pid: int) -> set[int]:
    """The process groups of `pid` and every process below it (vLLM, the emulator, the proxy)."""
    table = proc_table()
    return {table[member][1] for member in descendants(pid, table) | {pid} if member in table}


def spread(values: list[float]) -> str:
    return f"min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", type=Path, help="a model folder (default: make the tiny GPT-2 now)")
    args = parser.parse_args()
    venv = default_venv()
    if not (venv / "bin" / "python").exists():
        sys.exit(f"no engine venv at {venv}: run `bash tests/engine/setup.sh` first")
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or make_tiny_model(venv, Path(scratch))
        readies, stops = [], []
        for run in range(1, args.runs + 1):
            ready, stop = one_run(model, Path(scratch) / f"data-{run}", venv)
            print(f"run {run}: ready in {ready:.1f} s, stopped in {stop:.1f} s", flush=True)
            readies.append(ready)
            stops.append(stop)
    print(f"ready: {spread(readies)}")
    print(f"stop:  {spread(stops)}")
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
