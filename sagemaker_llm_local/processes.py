"""The processes of the local chain: each in its own process group, so stopping one ends everything it forked.

vLLM runs its engine core and workers (and torch's compiler) in child processes; OpenWebUI runs
workers too. Each server starts as the leader of a new session (`start_new_session`), and is
stopped by signalling its whole group: SIGTERM, then SIGKILL for whatever is left after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_GRACE_SECONDS = 20.0
# A vLLM log line's process, level, timestamp and source ("(APIServer pid=7) INFO 12-06 23:42:07 [x.py:42] ").
_LOG_PREFIX = re.compile(r"^(\([\w:]+ pid=\d+\)\s*)?((INFO|WARNING|DEBUG|ERROR)\s+[\d-]+ [\d:.]+\s*(\[[^\]]*\])?\s*)?")


class StartError(Exception):
    """A server exited or stayed silent while starting: one line, with where its log is."""


def start_group(command: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    """Start `command` as the leader of a new process group, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own argv, never a shell
            list(command),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def proc_table() -> dict[int, tuple[int, int, str]]:
    """pid → (parent pid, process group, state) of every process, from /proc (empty without /proc)."""
    table = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return table
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                # Fields after the parenthesised command: state, ppid, pgrp, …
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # ended while we looked
            table[int(entry.name)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def descendants(pid: int, table: Mapping[int, tuple[int, int, str]] | None = None) -> set[int]:
    """Every process below `pid`: its children, theirs, and so on."""
    table = proc_table() if table is None else table
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, (parent, _, _) in table.items() if parent in frontier} - found
        found |= frontier
    return found


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group; without /proc, the leader's group as a whole."""
    if not Path("/proc").is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return [pid for pid, (_, group, state) in proc_table().items() if group == pgid and state != "Z"]


def stop_group(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> None:
    """End the process and every member of its group, even when the leader has already exited."""
    stop_groups([process], grace)


def stop_groups(processes: Sequence[subprocess.Popen], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM to every group at once, SIGKILL to what is left of them after `grace` seconds."""
    groups = [process.pid for process in processes]  # a session leader's group id is its pid
    for pgid in groups:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _any_alive(processes, groups):
        time.sleep(0.2)
    _kill_until_gone(processes, groups)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):  # killed above; reaped once we exit
            process.wait(10)


def _any_alive(processes: Sequence[subprocess.Popen], groups: Sequence[int]) -> bool:
    for process in processes:
        process.poll()  # reap the leader, so it does not count as a member
    return any(group_members(pgid) for pgid in groups)


def _kill_until_gone(processes: Sequence[subprocess.Popen], groups: Sequence[int], seconds: float = 10.0) -> None:
    """SIGKILL the groups until no live member is left, checked again after every round: a member forked
    while a signal went out, or one not yet ended when we looked, would otherwise outlive the command."""
    deadline = time.monotonic() + seconds
    while _any_alive(processes, groups) and time.monotonic() < deadline:
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        time.sleep(0.1)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def answers(url: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> bool:
    """True when `url` answers 200 (a server's health route)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked above
            return response.status == 200
    except OSError:
        return False


def wait_until_answers(
    name: str,
    url: str,
    process: subprocess.Popen,
    log: Path,
    *,
    seconds: float,
    stopping: threading.Event | None = None,
    progress: Callable[[float, str], None] | None = None,
    every: float = 10.0,
    cause: Callable[[Path], str] | None = None,
) -> bool:
    """Wait until `url` answers 200; False if `stopping` was set first. `progress(elapsed, last log line)`
    is called every `every` seconds. Raises StartError if the process exits (with `cause(log)`) or time runs out."""
    stopping = stopping or threading.Event()
    started = time.monotonic()
    next_report = started + every
    while not answers(url, timeout=2):
        elapsed = time.monotonic() - started
        if process.poll() is not None:
            reason = (cause or last_line)(log)
            raise StartError(f"{name} exited ({process.returncode}) while starting: {reason} (log: {log})")
        if elapsed > seconds:
            raise StartError(f"{name} did not answer {url} within {seconds:.0f} s (log: {log})")
        if progress and time.monotonic() >= next_report:
            progress(elapsed, last_line(log))
            next_report += every
        if stopping.wait(1):
            return False
    return True


def read_log(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


def log_lines(log: Path) -> list[str]:
    """The log's non-empty lines, without vLLM's process, level and timestamp prefix."""
    return [text for line in read_log(log).splitlines() if (text := _LOG_PREFIX.sub("", line.strip()))]


def last_line(log: Path) -> str:
    """The log's last line (see `log_lines`), cut to 120 characters."""
    lines = log_lines(log)
    return lines[-1][:120] if lines else ""
