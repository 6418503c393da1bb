"""The UI host's reverse proxy, run for real on 127.0.0.1: nginx with the configuration the boot script writes.

`openwebui-start`'s own proxy-prepare and proxy steps run (openwebui/start-openwebui.sh, sourced),
with its conf_dir moved to a test folder and SSM and the instance metadata service stubbed, so the
nginx.conf under test is the one a host renders at boot. Used by tests/components/test_ui_origin_proxy.py
(in front of a tiny backend) and the browser e2e (in front of `open-webui serve`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.ui_edge import ORIGIN_HEADER
from openwebui.user_data import NGINX_CONF, START_SCRIPT

__all__ = ["ORIGIN_HEADER", "free_port", "nginx_missing", "origin_proxy", "run_step", "write_host_conf"]

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SECRET_PARAMETER = "/sagemaker-llm/test/ui/origin-secret"


def nginx_missing() -> bool:
    return shutil.which("nginx", path=PATH) is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_step(
    step: str, conf_dir: Path, state_dir: Path, secret: str, log: Path | None = None
) -> subprocess.Popen | subprocess.CompletedProcess:
    """Runs `openwebui-start <step>` (its own main) with conf_dir moved to a test folder and AWS stubbed.

    `proxy` (nginx in the foreground) is started and returned, its output in `log` when given (a
    long run could fill a pipe nobody reads); any other step is run to its end.
    """
    script = rf"""
set -euo pipefail
source "$START_SCRIPT"
conf_dir="$CONF_DIR"
sleep() {{ :; }}
imds() {{ echo eu-west-1; }}
aws() {{ echo "$ORIGIN_SECRET_VALUE"; }}
main {step}
"""
    env = {
        "PATH": PATH,
        "START_SCRIPT": str(START_SCRIPT),
        "CONF_DIR": str(conf_dir),
        "RUNTIME_DIRECTORY": str(state_dir),
        "ORIGIN_SECRET_VALUE": secret,
    }
    if step == "proxy":
        if log is None:
            return subprocess.Popen(["bash", "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with log.open("wb") as out:
            return subprocess.Popen(["bash", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)


def write_host_conf(conf_dir: Path, listen: str, backend_port: int) -> None:
    """What the user data writes: host.conf (the variables the proxy steps read) and nginx.conf.in."""
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "host.conf").write_text(
        f"UI_PORT={listen}\nCONTAINER_PORT={backend_port}\nORIGIN_SECRET_PARAMETER={SECRET_PARAMETER}\n"
    )
    shutil.copy(NGINX_CONF, conf_dir / "nginx.conf.in")


def wait_for_port(port: int, process: subprocess.Popen, log: Path | None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {log.read_text() if log else process.stderr.read().decode()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("nginx did not listen")


@contextmanager
def origin_proxy(backend_port: int, secret: str, conf_dir: Path, log: Path | None = None) -> Iterator[int]:
    """nginx on a free 127.0.0.1 port in front of `backend_port`, admitting requests carrying `secret`."""
    # nginx's workers drop root: their temp folders must sit where any user can reach.
    state_dir = Path(tempfile.mkdtemp(prefix="openwebui-proxy-"))
    state_dir.chmod(0o755)
    port = free_port()
    try:
        write_host_conf(conf_dir, f"127.0.0.1:{port}", backend_port)
        prepared = run_step("proxy-prepare", conf_dir, state_dir, secret)
        assert prepared.returncode == 0, prepared.stderr
        process = run_step("proxy", conf_dir, state_dir, secret, log)
        try:
            wait_for_port(port, process, log)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=20)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
