"""How long `sagemaker-llm-local --model <tiny model> --no-ui` takes to get ready, and to stop on SIGTERM.

    uv run python bench/local_chain_start.py [--runs 3] [--model DIR]

Needs the engine venv (`bash tests/engine/setup.sh`). Without --model it first makes the engine suite's
tiny GPT-2 with tests/engine/make_model.py (about 15 s, not timed). Each run starts the command as a user
does and times

- ready: from launch until it prints "Press Ctrl-C to stop." (what tests/local/local_command.py waits for);
- stop: from SIGTERM until the command has exited and no process it started is left (zombies aside).

vLLM's compile cache (~/.cache/vllm) is kept between runs, as on a user's machine: the first run of a new
machine is slower. Prints min / median / max of each.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.engine.fixtures import VENV, make_model
from tests.local.local_command import CommandFailed, descendants, local_command, proc_table

START_SECONDS = 600


def one_run(model: Path, data: Path) -> tuple[float, float]:
    """Seconds until ready, and from SIGTERM until no process it started is left."""
    env = {"XDG_DATA_HOME": str(data), "VLLM_ENGINE_VENV": str(VENV)}
    started = time.monotonic()
    with local_command(["--model", str(model), "--no-ui", "--api-port", "0"], env, start_seconds=START_SECONDS) as run:
        ready = time.monotonic() - started
        table = proc_table()
        groups = {table[pid][1] for pid in descendants(run.process.pid) if pid in table}
        stopping = time.monotonic()
        run.process.send_signal(signal.SIGTERM)
        run.process.wait(120)
        while any(group in groups and state != "Z" for _, group, state in proc_table().values()):
            time.sleep(0.05)
        return ready, time.monotonic() - stopping


def spread(values: list[float]) -> str:
    return f"min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", type=Path, help="a model folder (default: make the tiny GPT-2 now)")
    args = parser.parse_args()
    if not (VENV / "bin" / "python").exists():
        sys.exit(f"no engine venv at {VENV}: run `bash tests/engine/setup.sh` first")
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or make_model(VENV, "make_model.py", Path(scratch))
        readies, stops = [], []
        for run in range(1, args.runs + 1):
            try:
                ready, stop = one_run(model, Path(scratch) / f"data-{run}")
            except CommandFailed as failed:
                sys.exit(str(failed))
            print(f"run {run}: ready in {ready:.1f} s, stopped in {stop:.1f} s", flush=True)
            readies.append(ready)
            stops.append(stop)
    print(f"ready: {spread(readies)}")
    print(f"stop:  {spread(stops)}")
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
