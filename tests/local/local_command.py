"""`sagemaker-llm-local` run as a user runs it, for the tests: started, read until ready, its addresses parsed.

Used by tests/local/test_local_chain.py (the API on the real engine, SIGTERM) and the browser e2e
(tests/e2e: OpenWebUI through the command). What it started is read from /proc with
sagemaker_llm_local.processes' `proc_table`/`descendants`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sagemaker_llm_local.processes import descendants

COMMAND = str(Path(sys.executable).parent / "sagemaker-llm-local")
READY = "Press Ctrl-C to stop."


class CommandFailed(Exception):
    """The command exited, or did not print READY in time; the message holds its output."""


@dataclass
class Running:
    process: subprocess.Popen
    output: list[str]
    """What it printed up to READY."""

    def printed(self, pattern: str) -> tuple[str, ...]:
        match = re.search(pattern, "\n".join(self.output))
        if not match:
            raise CommandFailed(f"no {pattern!r} in:\n" + "\n".join(self.output))
        return match.groups()

    @property
    def base_url(self) -> str:
        return self.printed(r"OpenAI base URL: (\S+)")[0]

    @property
    def api_key(self) -> str:
        return self.printed(r"API key: (\S+)")[0]

    @property
    def ui(self) -> tuple[str, str, str]:
        """OpenWebUI's address, the admin's e-mail and password."""
        return self.printed(r"Chat UI: (\S+) \(admin: (\S+), password: (\S+)\)")


def _lines_of(process: subprocess.Popen, log: Path | None) -> queue.Queue:
    """The command's output line by line, read aside (so that waiting can time out), copied to `log`."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        with open(log, "w") if log else contextlib.nullcontext() as copy:
            for line in process.stdout:
                if copy:
                    copy.write(line)
                    copy.flush()
                lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


@contextlib.contextmanager
def local_command(
    args: Sequence[str], env: Mapping[str, str], *, start_seconds: float, log: Path | None = None
) -> Iterator[Running]:
    """Run `sagemaker-llm-local ARGS` until it prints READY; on leaving, end it (SIGTERM) if the test has not."""
    process = subprocess.Popen(
        [COMMAND, *args], env=os.environ | dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines, output = _lines_of(process, log), []
    try:
        while not output or output[-1] != READY:
            try:
                line = lines.get(timeout=start_seconds)
            except queue.Empty:
                line = None
            if line is None:
                raise CommandFailed("sagemaker-llm-local did not get ready:\n" + "\n".join(output))
            output.append(line)
        yield Running(process, output)
    finally:
        _end(process)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    children = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:  # stuck: end it and the groups it started the hard way
        process.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        process.wait(10)
