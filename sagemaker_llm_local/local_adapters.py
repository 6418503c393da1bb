"""`--adapter NAME=PATH`: LoRA adapters served here as the stack serves its `adapters`, from files on this machine.

A stack's adapters are S3 archives, and this command stays offline: it fetches none of them. Each `--adapter` gives
one, as its PEFT folder or as the `.tar.gz` an adapter component's ArtifactUrl names, under the model name it has in
the API (a stack adapter's name to try that one, or a new one). Names are checked as the stack checks its own
(components/lora_adapters.py) and each rank against the stack's maxLoraRank, before anything starts.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.lora_adapters import MAX_LORA_RANKS, adapter_problems
from components.settings import Settings
from sagemaker_llm_local.stack import StackError

CONFIG = "adapter_config.json"
# adapter_problems checks names and S3 URIs together; a valid URI leaves the name checks (the files are checked here).
_NAMES_ONLY = "s3://local-adapter/adapter.tar.gz"


def local_adapters(specs: Sequence[str], settings: Settings, base_model_name: str) -> dict[str, Path]:
    """Each `NAME=PATH` as public name → folder or archive, checked; a StackError (one line) for the first problem."""
    adapters: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise StackError(f"--adapter {spec}: give NAME=PATH, PATH the adapter's PEFT folder or its .tar.gz")
        if name in adapters:
            raise StackError(f"--adapter {name}: given twice; give each adapter once")
        adapters[name] = Path(path).expanduser()
    problems = adapter_problems(dict.fromkeys(adapters, _NAMES_ONLY), base_model_name=base_model_name)
    if problems:
        raise StackError(" ".join(_as_option(problem) for problem in problems))
    for name, path in adapters.items():
        rank = lora_rank(name, path)
        if rank > settings.max_lora_rank:
            raise StackError(f"--adapter {name}: {too_high(rank, settings.max_lora_rank)}")
    return {name: path.resolve() for name, path in adapters.items()}


def unserved_notice(settings: Settings, adapters: Mapping[str, Path]) -> str:
    """One line naming the stack's adapters not given with `--adapter` (S3 is not read here), or ""."""
    missing = [name for name in settings.adapters if name not in adapters]
    if not missing:
        return ""
    return (
        f"The stack's adapters {', '.join(missing)} are S3 archives, not fetched here: to try one, pass "
        "--adapter NAME=DIR (its PEFT folder or .tar.gz)."
    )


def lora_rank(name: str, path: Path) -> int:
    """The adapter's rank (`r` in adapter_config.json), read from its folder or its archive."""
    config = _config(name, path)
    rank = config.get("r")
    if config.get("peft_type", "LORA") != "LORA" or not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise StackError(f"--adapter {name}={path}: {CONFIG} is not a LoRA adapter's (peft_type LORA, a rank r ≥ 1)")
    return rank


def too_high(rank: int, max_rank: int) -> str:
    """Why vLLM (and so the stack) would refuse an adapter of `rank`, and the maxLoraRank that takes it."""
    fitting = [allowed for allowed in MAX_LORA_RANKS if allowed >= rank]
    remedy = f"`pulumi config set maxLoraRank {fitting[0]}`" if fitting else f"vLLM takes up to {MAX_LORA_RANKS[-1]}"
    refusal = "vLLM would refuse it, here as on SageMaker"
    return f"its rank {rank} (`r` in {CONFIG}) is above the stack's maxLoraRank {max_rank} ({refusal}): {remedy}"


def _config(name: str, path: Path) -> dict[str, Any]:
    if path.is_dir():
        file = path / CONFIG
        if not file.is_file():
            raise StackError(f"--adapter {name}={path}: no {CONFIG} in that folder (give the folder PEFT wrote)")
        data = file.read_bytes()
    elif path.is_file():
        data = _config_in_archive(name, path)
    else:
        raise StackError(f"--adapter {name}={path}: no such folder or .tar.gz")
    try:
        config = json.loads(data)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise StackError(f"--adapter {name}={path}: its {CONFIG} is not a JSON object")
    return config


def _config_in_archive(name: str, archive: Path) -> bytes:
    """adapter_config.json at the archive's root, where SageMaker wants the adapter's files (docs/adapters.md)."""
    try:
        with tarfile.open(archive, "r:*") as bundle:
            for member in bundle:
                if member.isfile() and os.path.normpath(member.name) == CONFIG:
                    extracted = bundle.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    except (tarfile.TarError, OSError, EOFError):
        raise StackError(f"--adapter {name}={archive}: not a folder, and not a .tar.gz of an adapter's files") from None
    raise StackError(
        f"--adapter {name}={archive}: no {CONFIG} at the archive's root (pack the files, not their folder: "
        "docs/adapters.md)"
    )


def _as_option(problem: str) -> str:
    """A stack check's wording (`adapters.x: …`, `adapters: …`) as this option's."""
    if problem.startswith("adapters."):
        return "--adapter " + problem.removeprefix("adapters.")
    return "--adapter" + problem.removeprefix("adapters")
