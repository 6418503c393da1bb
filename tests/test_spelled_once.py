"""What two parts agree on is written in one place: the vLLM version here, the proxy's contract below."""

from __future__ import annotations

import re
import subprocess

from components.image import VLLM_DLC_TAG, VLLM_VERSION
from tests.pulumi_harness import ROOT

SETUP = ROOT / "tests" / "engine" / "setup.sh"


def test_the_engine_suite_installs_the_vllm_of_the_pinned_dlc_tag():
    """setup.sh reads the version from components/image.py (it runs before `uv sync`, so it cannot import it)."""
    lines = [line for line in SETUP.read_text().splitlines() if re.match(r"(image_py|version)=", line)]
    assert len(lines) == 2, lines
    script = "set -euo pipefail; " + "; ".join(lines) + '; echo "$version"'
    # `bash -c SCRIPT FILE` runs with $0 = FILE, as when setup.sh itself runs, from any directory.
    found = subprocess.run(["bash", "-c", script, str(SETUP)], capture_output=True, text=True, check=True, cwd="/")
    assert found.stdout.strip() == VLLM_VERSION
    assert VLLM_DLC_TAG.startswith(f"{VLLM_VERSION}-")


def test_the_vllm_version_is_assigned_in_one_place():
    literal = re.compile(rf"""["']{re.escape(VLLM_VERSION)}["']""")
    sources = [path for path in _sources() if path.suffix in {".py", ".sh"}]
    assert [path.relative_to(ROOT).as_posix() for path in sources if literal.search(path.read_text())] == [
        "components/image.py"
    ]


def _sources():
    """The project's files outside tests/ and docs, as git knows them (committed or new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        path = ROOT / name
        if not name.startswith("tests/") and not name.endswith(".md") and path.is_file():
            yield path
