"""`vllmArgs`: vLLM's own options, checked against the list vLLM 0.27.1's `vllm serve` accepts, as the DLC's
`SM_VLLM_*` environment.

The list (vllm_options.json) is generated from vLLM's own argument parser by tests/engine/vllm_option_list.py,
and the engine suite checks the two are equal. The DLC's SageMaker entrypoint turns `SM_VLLM_FOO_BAR=v` into
`--foo-bar v`, `true` into a bare `--foo-bar` and leaves `false` out (aws/deep-learning-containers, the vLLM
image's configuration page), so a flag is given as a boolean and an option as one value.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

OPTION_LIST_FILE = Path(__file__).resolve().with_name("vllm_options.json")
ENVIRONMENT_PREFIX = "SM_VLLM_"
# The most variables ModelEndpoint sets in the vLLM container itself (model, served name, chat template, context,
# two for tool calling, tensor parallelism, four for LoRA, HF_TOKEN); vllmArgs share SageMaker's 100 with them.
STACK_VARIABLES_AT_MOST = 12
# The DLC's entrypoint reads its options line by line from `env | grep ^SM_VLLM_`
# (aws/deep-learning-containers, vllm/build_artifacts/sagemaker_entrypoint.sh): a value's second line is lost, or
# read as another `SM_VLLM_…=` option.
LINE_BREAK_WHY = "the DLC reads each SM_VLLM_ variable as one line. Keep the value on one line."
# Options the stack sets itself, and the config key that owns each: vllmArgs may not set them.
STACK_OWNED_OPTIONS: dict[str, str] = {
    "model": "modelId / modelDataUri",
    "served-model-name": "servedModelName",
    "max-model-len": "maxModelLen",
    "tensor-parallel-size": "tensorParallelSize",
    "tool-call-parser": "toolCallParser",
    "enable-auto-tool-choice": "toolCallParser",
    "chat-template": "chatTemplate",
    "enable-lora": "adapters",
    "max-loras": "adapters",
    "lora-modules": "adapters",
    "max-lora-rank": "maxLoraRank",
    "hf-token": "hfToken",
}
# Options that would cut SageMaker off from the container, and why.
SAGEMAKER_OWNED_OPTIONS: dict[str, str] = {
    "port": "the DLC's SageMaker entrypoint serves on port 8080, where SageMaker calls it",
    "host": "the DLC's SageMaker entrypoint serves on port 8080, where SageMaker calls it",
    "uds": "the DLC's SageMaker entrypoint serves on port 8080, where SageMaker calls it",
    "api-key": "SageMaker's calls to the container carry no key (the API's key is apiKey, checked by the proxy)",
}


@functools.cache
def serve_options() -> dict[str, dict[str, Any]]:
    """Every long option of `vllm serve` (without `--`) → {"kind": flag | value | values, "choices"?}."""
    return json.loads(OPTION_LIST_FILE.read_text())["options"]


def environment_name(option: str) -> str:
    """`enable-prefix-caching` → `SM_VLLM_ENABLE_PREFIX_CACHING`, the variable the DLC reads it from."""
    return ENVIRONMENT_PREFIX + option.upper().replace("-", "_")


def vllm_args_environment(vllm_args: Mapping[str, Any]) -> dict[str, str]:
    """The container's `SM_VLLM_*` for validated vllmArgs: `true` → "true" (a bare flag), `false` → left out."""
    environment = {}
    for option, value in vllm_args.items():
        if value is False:
            continue
        environment[environment_name(option)] = "true" if value is True else str(value)
    return environment


def vllm_args_problems(vllm_args: Any, *, max_value_length: int) -> list[str]:
    """Every problem of a `vllmArgs` value, each naming the option and what to do."""
    if not isinstance(vllm_args, dict):
        return ['vllmArgs: give an object of vLLM options without `--`, e.g. `{"enable-prefix-caching": true}`.']
    options = serve_options()
    problems = []
    for option, value in vllm_args.items():
        name = option.removeprefix("--")
        base = name.removeprefix("no-")
        if name != option:
            problems.append(f"vllmArgs: write {option!r} without the dashes, as {name!r}.")
        elif base in STACK_OWNED_OPTIONS:
            problems.append(
                f"vllmArgs.{name}: the stack sets --{base} from {STACK_OWNED_OPTIONS[base]}; set that instead."
            )
        elif base in SAGEMAKER_OWNED_OPTIONS:
            problems.append(f"vllmArgs.{name}: {SAGEMAKER_OWNED_OPTIONS[base]}; remove it.")
        elif name not in options:
            close = difflib.get_close_matches(name, tuple(options), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else " (see `vllm serve --help`)."
            problems.append(f"vllmArgs.{name}: not an option of vLLM's `vllm serve`{hint}")
        else:
            problems += _value_problems(name, value, options[name], max_value_length)
    return problems


def _value_problems(name: str, value: Any, spec: Mapping[str, Any], max_value_length: int) -> list[str]:
    if spec["kind"] == "flag":
        return [] if isinstance(value, bool) else [f"vllmArgs.{name}: a flag; give true or false, not {value!r}."]
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        return [f"vllmArgs.{name}: takes one value (a string or a number), not {value!r}."]
    text = str(value)
    if "\n" in text:
        return [f"vllmArgs.{name}: a line break would give vLLM an option of its own; {LINE_BREAK_WHY}"]
    choices = spec.get("choices")
    if choices and text not in choices:
        return [f"vllmArgs.{name}: {text!r} is not one of {', '.join(choices)}."]
    if len(text) > max_value_length:
        return [
            f"vllmArgs.{name}: {len(text)} characters; a SageMaker environment value holds at most {max_value_length}."
        ]
    return []
