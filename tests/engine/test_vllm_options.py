"""The committed list of vLLM's options (components/vllm_options.json), which `vllmArgs` is checked against at
preview, is exactly what vLLM 0.27.1's own `vllm serve` parser accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components.image import VLLM_VERSION
from components.vllm_args import OPTION_LIST_FILE

pytestmark = pytest.mark.engine

GENERATOR = Path(__file__).resolve().parent / "vllm_option_list.py"


def test_the_committed_option_list_is_what_the_engines_parser_accepts(engine_venv, tmp_path):
    generated = tmp_path / "vllm_options.json"
    subprocess.run(
        [str(engine_venv / "bin" / "python"), str(GENERATOR), str(generated)],
        capture_output=True,
        timeout=300,
        check=True,
    )

    fresh, committed = json.loads(generated.read_text()), json.loads(OPTION_LIST_FILE.read_text())
    assert fresh["vllm"] == committed["vllm"] == VLLM_VERSION
    assert fresh["options"] == committed["options"], (
        f"regenerate it: {engine_venv}/bin/python tests/engine/vllm_option_list.py components/vllm_options.json"
    )
    assert generated.read_text() == OPTION_LIST_FILE.read_text()
