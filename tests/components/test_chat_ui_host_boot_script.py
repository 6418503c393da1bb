"""The UI host's boot script, run for real in bash with the system commands it calls stubbed out.

What matters to a person: a volume that already holds chats is never formatted, the fstab line
is written once, and the secrets land in a root-only file without ever leaving a half-written one.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from openwebui.user_data import START_SCRIPT

STUBS = r"""
set -euo pipefail
source "$START_SCRIPT"
calls="$WORK/calls"
: >"$calls"
conf_dir="$WORK/conf"
fstab="$WORK/fstab"
DATA_DIR="$WORK/data"
DATA_VOLUME_ID=vol-0123456789abcdef0
log() { :; }
sleep() { :; }
find_data_device() { echo /dev/nvme1n1; }
mountpoint() { return 1; }
blkid() {
  echo "blkid $*" >>"$calls"
  if [[ "$1" == -p ]]; then return "${BLKID_PROBE:-0}"; fi
  echo 3f2c9a1e-uuid
}
mkfs.xfs() { echo "mkfs.xfs $*" >>"$calls"; }
mount() { echo "mount $*" >>"$calls"; }
systemctl() { echo "systemctl $*" >>"$calls"; }
imds() { echo eu-west-1; }
aws() {
  echo "aws $*" >>"$calls"
  local name
  name="$(sed -n 's/.*--name \([^ ]*\).*/\1/p' <<<"$*")"
  if [[ "$name" == "${FAIL_PARAMETER:-}" ]]; then return 255; fi
  echo "value-of-$name"
}
"""


def run_script(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "fstab").touch()
    return subprocess.run(
        ["bash", "-c", STUBS + body],
        env={"PATH": "/usr/bin:/bin", "START_SCRIPT": str(START_SCRIPT), "WORK": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(tmp_path: Path) -> str:
    return (tmp_path / "calls").read_text()


def test_a_blank_volume_is_formatted_and_mounted(tmp_path):
    result = run_script(tmp_path, "mount_data_volume", BLKID_PROBE="2")

    assert result.returncode == 0, result.stderr
    assert "mkfs.xfs -q -L openwebui-data /dev/nvme1n1" in calls(tmp_path)
    assert f"mount {tmp_path}/data" in calls(tmp_path)


def test_a_volume_with_a_filesystem_is_never_formatted(tmp_path):
    result = run_script(tmp_path, "mount_data_volume", BLKID_PROBE="0")

    assert result.returncode == 0, result.stderr
    assert "mkfs" not in calls(tmp_path)
    assert f"mount {tmp_path}/data" in calls(tmp_path)


def test_a_volume_that_cannot_be_probed_is_left_alone(tmp_path):
    result = run_script(tmp_path, "mount_data_volume", BLKID_PROBE="4")

    assert result.returncode == 1
    assert "mkfs" not in calls(tmp_path)
    assert "mount " not in calls(tmp_path)


def test_the_fstab_line_is_written_once_across_reboots(tmp_path):
    result = run_script(tmp_path, "mount_data_volume; mount_data_volume")

    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "fstab").read_text().splitlines()
    assert lines == [f"UUID=3f2c9a1e-uuid {tmp_path}/data xfs defaults,nofail,x-systemd.device-timeout=30s 0 2"]


def write_parameters(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "public.env").write_text("WEBUI_AUTH=true\nOPENAI_API_BASE_URL=https://api.example/v1\n")
    (conf / "secret-parameters").write_text(
        "OPENAI_API_KEY=/s/proxy/api-key\nWEBUI_ADMIN_PASSWORD=/s/ui/admin-password\nWEBUI_SECRET_KEY=/s/ui/key\n"
    )


def test_secrets_are_read_from_ssm_into_a_root_only_env_file(tmp_path):
    write_parameters(tmp_path)

    result = run_script(tmp_path, "write_env_file")

    assert result.returncode == 0, result.stderr
    env_file = tmp_path / "conf" / "openwebui.env"
    assert env_file.read_text() == (
        "WEBUI_AUTH=true\n"
        "OPENAI_API_BASE_URL=https://api.example/v1\n"
        "OPENAI_API_KEY=value-of-/s/proxy/api-key\n"
        "WEBUI_ADMIN_PASSWORD=value-of-/s/ui/admin-password\n"
        "WEBUI_SECRET_KEY=value-of-/s/ui/key\n"
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "--with-decryption" in calls(tmp_path)
    assert "--region eu-west-1" in calls(tmp_path)


def test_an_unreadable_secret_keeps_the_previous_env_file(tmp_path):
    failing = "/s/ui/key"
    write_parameters(tmp_path)
    previous = tmp_path / "conf" / "openwebui.env"
    previous.write_text("FROM_LAST_BOOT=1\n")

    result = run_script(tmp_path, "write_env_file", FAIL_PARAMETER=failing)

    assert result.returncode != 0
    assert previous.read_text() == "FROM_LAST_BOOT=1\n"
    assert calls(tmp_path).count(f"--name {failing}") == 10  # retried before giving up


def test_a_secret_read_on_a_retry_lands_intact_in_the_env_file(tmp_path):
    write_parameters(tmp_path)
    # The script's own `log` (not the silent stub), and an SSM that fails each parameter's first read.
    body = r"""
eval "$(grep '^log()' "$START_SCRIPT")"
aws() {
  local name
  name="$(sed -n 's/.*--name \([^ ]*\).*/\1/p' <<<"$*")"
  if [[ ! -e "$WORK/tried-${name//\//_}" ]]; then
    : >"$WORK/tried-${name//\//_}"
    return 255
  fi
  echo "value-of-$name"
}
write_env_file
"""

    result = run_script(tmp_path, body)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "conf" / "openwebui.env").read_text() == (
        "WEBUI_AUTH=true\n"
        "OPENAI_API_BASE_URL=https://api.example/v1\n"
        "OPENAI_API_KEY=value-of-/s/proxy/api-key\n"
        "WEBUI_ADMIN_PASSWORD=value-of-/s/ui/admin-password\n"
        "WEBUI_SECRET_KEY=value-of-/s/ui/key\n"
    )
    assert "attempt 1 failed: read_parameter eu-west-1" in result.stderr  # logged, beside the values
