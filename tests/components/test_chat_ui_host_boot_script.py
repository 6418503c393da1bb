"""The UI host's boot script, run for real in bash.

The disk logic runs the real `mkfs.xfs`, `wipefs`, `blkid` and `cmp` on a file-backed image; only what needs
AWS or the host (finding the EBS attachment, mounting, systemd, docker, SSM, the metadata service)
is stubbed. What matters to a person: a blank volume becomes the data volume, a volume that holds
anything (or that could not be read) is never formatted, the fstab line is written once, the
secrets land in a root-only file without ever leaving a half-written one, and OpenWebUI never starts
on the root disk.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from openwebui.user_data import START_SCRIPT

TOOLS = ("mkfs.xfs", "wipefs", "blkid", "cmp", "mkfs.ext4")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool, path=PATH) is None for tool in TOOLS),
    reason="needs xfsprogs, util-linux, diffutils and e2fsprogs (.ci/run installs them)",
)
IMAGE_SIZE = 300 * 1024 * 1024  # mkfs.xfs refuses filesystems under 300 MB

STUBS = r"""
set -euo pipefail
source "$START_SCRIPT"
calls="$WORK/calls"
: >>"$calls"
conf_dir="$WORK/conf"
fstab="$WORK/fstab"
DATA_DIR="$WORK/data"
DATA_VOLUME_ID=vol-0123456789abcdef0
IMAGE=ghcr.io/open-webui/open-webui:v0.12.4
UI_PORT=80
CONTAINER_PORT=8080
sleep() { :; }
find_data_device() { echo "$DEVICE"; }
mountpoint() { [[ -e "$WORK/mounted" ]]; }
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
    # A program, not a function: the script `exec`s docker, and exec skips shell functions.
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    docker = fake_bin / "docker"
    docker.write_text(f'#!/bin/sh\necho "docker $*" >>"{tmp_path}/calls"\n')
    docker.chmod(0o755)
    return subprocess.run(
        ["bash", "-c", STUBS + body],
        env={"PATH": f"{fake_bin}:{PATH}", "START_SCRIPT": str(START_SCRIPT), "WORK": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def calls(tmp_path: Path) -> str:
    path = tmp_path / "calls"
    return path.read_text() if path.exists() else ""


def blank_image(tmp_path: Path) -> Path:
    """A new EBS volume as the host sees it: all zeros (sparse, so it costs no disk)."""
    image = tmp_path / "volume.img"
    with image.open("wb") as f:
        f.truncate(IMAGE_SIZE)
    return image


def probe(image: Path) -> dict[str, str]:
    """What the real blkid finds on the image ({} for nothing)."""
    result = subprocess.run(
        ["blkid", "-p", "-o", "export", str(image)], capture_output=True, text=True, check=False, env={"PATH": PATH}
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def probe_at(image: Path, offset: int) -> dict[str, str]:
    """What the real blkid finds at a byte offset of the image, e.g. in a partition."""
    result = subprocess.run(
        ["blkid", "-p", "-O", str(offset), "-o", "export", str(image)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": PATH},
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def mount_volume(tmp_path: Path, device: Path | str) -> subprocess.CompletedProcess:
    return run_script(tmp_path, "mount_data_volume", DEVICE=str(device))


# ---------------------------------------------------------------- the data volume


def test_a_blank_volume_is_formatted_xfs_and_mounted_by_uuid(tmp_path):
    image = blank_image(tmp_path)

    result = mount_volume(tmp_path, image)

    assert result.returncode == 0, result.stderr
    found = probe(image)
    assert found["TYPE"] == "xfs"
    assert found["LABEL"] == "openwebui"
    assert (tmp_path / "fstab").read_text() == (
        f"UUID={found['UUID']} {tmp_path}/data xfs defaults,nofail,x-systemd.device-timeout=30s 0 2\n"
    )
    assert f"mount {tmp_path}/data" in calls(tmp_path)
    assert "formatting the blank data volume" in result.stderr


def test_a_volume_that_holds_chats_is_never_formatted_again(tmp_path):
    image = blank_image(tmp_path)
    assert mount_volume(tmp_path, image).returncode == 0
    first_uuid = probe(image)["UUID"]

    (tmp_path / "fstab").write_text("")  # a new host: same volume, fresh root disk
    result = mount_volume(tmp_path, image)

    assert result.returncode == 0, result.stderr
    assert probe(image)["UUID"] == first_uuid  # mkfs would have given it a new one
    assert "formatting" not in result.stderr
    assert (tmp_path / "fstab").read_text().startswith(f"UUID={first_uuid} ")


def test_the_fstab_line_is_written_once_across_reboots(tmp_path):
    image = blank_image(tmp_path)

    result = run_script(tmp_path, "mount_data_volume; mount_data_volume", DEVICE=str(image))

    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "fstab").read_text().splitlines()) == 1
    assert calls(tmp_path).count("systemctl daemon-reload") == 1


def test_a_mounted_volume_is_left_as_it_is(tmp_path):
    (tmp_path / "mounted").touch()

    result = mount_volume(tmp_path, tmp_path / "no-such-device")

    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == ""


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_device_that_cannot_be_read_is_never_taken_for_a_blank_one(tmp_path, kind):
    # blkid -p exits 2 for these exactly as for a blank disk; the read test tells them apart.
    device = tmp_path / "device"
    if kind == "directory":
        device.mkdir()

    result = mount_volume(tmp_path, device)

    assert result.returncode == 1
    assert f"cannot read {device}; not formatting it" in result.stderr
    assert (tmp_path / "fstab").read_text() == ""
    assert calls(tmp_path) == ""


def test_a_device_without_read_permission_is_not_formatted(tmp_path):
    image = blank_image(tmp_path)
    # The script's text comes in the environment: nobody may not reach the checkout (a clone in a 700 folder).
    command = ["bash", "-c", 'source <(printf "%s" "$START_SCRIPT_TEXT"); probe_data_device "$DEVICE"']
    if os.geteuid() == 0:  # root reads anything: probe as nobody, as a host whose permissions are wrong
        tmp_path.chmod(0o711)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    image.chmod(0)

    result = subprocess.run(
        command,
        env={"PATH": PATH, "START_SCRIPT_TEXT": START_SCRIPT.read_text(), "DEVICE": str(image)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1, result.stdout
    assert result.stdout == ""  # neither "blank" nor "xfs"
    assert "cannot read" in result.stderr
    image.chmod(0o600)
    assert probe(image) == {}


def test_a_disk_holding_data_blkid_does_not_know_is_not_formatted(tmp_path):
    image = blank_image(tmp_path)
    data = b"chats from another life\n" * 200
    with image.open("r+b") as f:
        f.write(data)

    result = mount_volume(tmp_path, image)

    assert result.returncode == 1
    assert "holds data blkid and wipefs do not recognise or cannot be read" in result.stderr
    assert "/dev/zero differ: " in result.stderr and " 1, line 1)" in result.stderr  # where the data begins
    assert image.read_bytes()[: len(data)] == data
    assert (tmp_path / "fstab").read_text() == ""


MIB = 1024 * 1024


def zero_first_mib(image: Path) -> None:
    """What `dd if=/dev/zero of=<device> bs=1M count=1` leaves: the start gone, the rest as it was."""
    with image.open("r+b") as f:
        f.write(bytes(MIB))


def test_an_xfs_whose_first_mib_was_zeroed_keeps_its_data(tmp_path):
    # A volume restored from such a snapshot: no signature anywhere (xfs's is at offset 0 only), yet its
    # AG headers, log and files lie beyond the first MiB, and xfs_repair finds its secondary superblocks.
    image = blank_image(tmp_path)
    subprocess.run(["mkfs.xfs", "-q", str(image)], check=True, env={"PATH": PATH})
    zero_first_mib(image)
    rest = image.read_bytes()[MIB:]
    assert probe(image) == {} and rest.strip(b"\0")

    result = mount_volume(tmp_path, image)

    assert result.returncode == 1
    assert "holds data blkid and wipefs do not recognise or cannot be read" in result.stderr
    assert "formatting the blank data volume" not in result.stderr
    assert image.read_bytes()[MIB:] == rest
    assert probe(image) == {}
    assert (tmp_path / "fstab").read_text() == ""


@pytest.mark.skipif(shutil.which("sfdisk", path=PATH) is None, reason="needs sfdisk (.ci/run installs fdisk)")
def test_a_partitioned_volume_whose_first_mib_was_zeroed_is_not_formatted(tmp_path):
    # GPT with an xfs partition at 1 MiB, its protective MBR and primary table zeroed: blkid -p sees
    # nothing, the backup table in the last sector still names the partition, whose filesystem is intact.
    image = tmp_path / "volume.img"
    partition = blank_image(tmp_path).rename(tmp_path / "partition.img")
    subprocess.run(["mkfs.xfs", "-q", str(partition)], check=True, env={"PATH": PATH})
    with image.open("wb") as f:
        f.truncate(MIB + IMAGE_SIZE + MIB)
        f.seek(MIB)
        f.write(partition.read_bytes())
    layout = f"label: gpt\nstart=2048, size={IMAGE_SIZE // 512}, type=L\n"
    subprocess.run(
        ["sfdisk", "-q", "--wipe", "never", "--wipe-partitions", "never", str(image)],
        input=layout,
        text=True,
        check=True,
        env={"PATH": PATH},
    )
    filesystem = probe_at(image, MIB)
    assert filesystem["TYPE"] == "xfs"
    zero_first_mib(image)
    assert probe(image) == {}

    result = mount_volume(tmp_path, image)

    assert result.returncode == 1
    assert f"holds gpt {hex(len(image.read_bytes()) - 512)}; not formatting it" in result.stderr  # the backup table
    assert probe(image) == {}
    assert probe_at(image, MIB)["UUID"] == filesystem["UUID"]
    assert calls(tmp_path) == ""


def test_a_disk_with_another_filesystem_is_not_formatted_or_mounted(tmp_path):
    image = blank_image(tmp_path)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, env={"PATH": PATH})
    uuid = probe(image)["UUID"]

    result = mount_volume(tmp_path, image)

    assert result.returncode == 1
    assert "holds ext4" in result.stderr
    assert probe(image)["UUID"] == uuid
    assert calls(tmp_path) == ""


# ---------------------------------------------------------------- the container


def test_the_container_runs_under_systemd_without_a_docker_restart_policy(tmp_path):
    (tmp_path / "mounted").touch()

    result = run_script(tmp_path, "run_container")

    assert result.returncode == 0, result.stderr
    (run,) = [line for line in calls(tmp_path).splitlines() if line.startswith("docker run")]
    assert " --restart no " in run  # docker must not start it at boot, before the volume is mounted
    assert f"--volume {tmp_path}/data:/app/backend/data" in run
    assert "--detach" not in run  # in the foreground: systemd sees it stop and restarts it


def test_the_container_never_starts_on_the_root_disk(tmp_path):
    result = run_script(tmp_path, "run_container")

    assert result.returncode == 1
    assert "is not mounted; not starting OpenWebUI on the root disk" in result.stderr
    assert "docker" not in calls(tmp_path)


def test_prepare_refuses_to_go_on_without_the_data_volume(tmp_path):
    result = run_script(tmp_path, "prepare", DEVICE=str(tmp_path / "absent"))

    assert result.returncode == 1
    assert "docker" not in calls(tmp_path)
    assert not (tmp_path / "conf" / "openwebui.env").exists()


# ---------------------------------------------------------------- the secrets


def write_parameters(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "public.env").write_text("WEBUI_AUTH=true\nOPENAI_API_BASE_URL=https://api.example/v1\n")
    (conf / "secret-parameters").write_text(
        "OPENAI_API_KEY=/s/proxy/api-key\nWEBUI_ADMIN_PASSWORD=/s/ui/admin-password\nWEBUI_SECRET_KEY=/s/ui/key\n"
    )


EXPECTED_ENV = (
    "WEBUI_AUTH=true\n"
    "OPENAI_API_BASE_URL=https://api.example/v1\n"
    "OPENAI_API_KEY=value-of-/s/proxy/api-key\n"
    "WEBUI_ADMIN_PASSWORD=value-of-/s/ui/admin-password\n"
    "WEBUI_SECRET_KEY=value-of-/s/ui/key\n"
)


def test_secrets_are_read_from_ssm_into_a_root_only_env_file(tmp_path):
    write_parameters(tmp_path)

    result = run_script(tmp_path, "write_env_file")

    assert result.returncode == 0, result.stderr
    env_file = tmp_path / "conf" / "openwebui.env"
    assert env_file.read_text() == EXPECTED_ENV
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
    # An SSM that fails each parameter's first read; the script's log goes to stderr, not the value.
    body = r"""
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
    assert (tmp_path / "conf" / "openwebui.env").read_text() == EXPECTED_ENV
    assert "attempt 1 failed: read_parameter eu-west-1" in result.stderr  # logged, beside the values
