"""What two parts agree on is written in one place: the vLLM version, and the proxy's environment names
(openai_proxy/contract.py, which components/, the local chain and bench/ import)."""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

from components.image import VLLM_DLC_TAG, VLLM_VERSION
from openai_proxy.contract import ENV
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


CONTRACT = "proxy/openai_proxy/contract.py"
SOURCE_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".toml", ".tpl", ".json", ""}  # "": bootstrap, .ci/run


@pytest.mark.parametrize("name", ENV.names())
def test_each_proxy_environment_name_is_spelled_in_the_contract_alone(name):
    """Outside tests/, code names a proxy variable through contract.ENV; comments may still mention it."""
    spelled = re.compile(rf"(?<![A-Za-z0-9_]){name}(?![A-Za-z0-9_])")
    found = [
        path.relative_to(ROOT).as_posix()
        for path in _sources()
        if path.suffix in SOURCE_SUFFIXES and spelled.search(_without_comments(path))
    ]
    assert found == [CONTRACT], found


def _without_comments(path: Path) -> str:
    text = path.read_text(errors="replace")
    if path.suffix == ".py":
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        return " ".join(token.string for token in tokens if token.type != tokenize.COMMENT)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


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
