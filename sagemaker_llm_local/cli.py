"""`sagemaker-llm-local`: the stack's whole chain on this machine, with the stack's own settings.

    vLLM (the DLC's flags) ◀─ SageMaker's runtime API ◀─ openai-proxy (the Lambda's code) ◀─ OpenWebUI

Everything is checked before anything starts (the stack's config as `pulumi preview` checks it, the
model, vLLM, OpenWebUI, the ports); a problem is one line on stderr and exit code 2. Ctrl-C or
SIGTERM stops every process it started, with their children. See docs/local.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from components.settings import SettingsError
from sagemaker_llm_local.chain import LocalChain, Plan
from sagemaker_llm_local.chat_ui import ChatUiError, find_open_webui, load_credentials
from sagemaker_llm_local.engine import EngineError, container_flags, container_process_variables, find_vllm
from sagemaker_llm_local.local_adapters import local_adapters
from sagemaker_llm_local.stack import (
    StackError,
    container_variables,
    model_source,
    public_model_id,
    read_stack,
)

PROG = "sagemaker-llm-local"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description="The stack's whole chain on this machine (docs/local.md).")
    parser.add_argument("--stack", default="dev", help="the stack whose settings to use: Pulumi.<stack>.yaml (dev)")
    parser.add_argument(
        "--model", help="a Hugging Face model id or a local model folder (default: the stack's modelId)"
    )
    parser.add_argument("--api-port", type=int, default=8000, help="the OpenAI API's port (8000; 0 picks a free one)")
    parser.add_argument("--ui-port", type=int, default=3000, help="OpenWebUI's port (3000; 0 picks a free one)")
    parser.add_argument("--no-ui", action="store_true", help="no OpenWebUI: the API only")
    parser.add_argument(
        "--adapter",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve a LoRA adapter (its PEFT folder or .tar.gz) as model NAME; repeat for each (docs/adapters.md)",
    )
    parser.add_argument("--api-key", help="the key clients send (default: one generated once and kept for the stack)")
    parser.add_argument(
        "--vllm", metavar="PYTHON", help="a Python with vLLM (default: the venv tests/engine/setup.sh makes)"
    )
    args = parser.parse_args(argv)
    for option, value in (("--api-key", args.api_key), ("--model", args.model)):
        if value is not None and not value.strip():
            parser.error(f"{option} must not be empty")
    return args


def local_folder(stack: str) -> Path:
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data / "sagemaker-llm" / "local" / stack


def port(requested: int, option: str) -> int:
    """`requested` if 127.0.0.1 has it free (0: any free port), else a StackError naming the option."""
    if not 0 <= requested <= 65535:  # bind() would raise OverflowError, a traceback
        raise StackError(f"{option} {requested}: not a port number (0 to 65535)")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", requested))
        except OSError as error:
            taken = f"127.0.0.1:{requested} is taken ({error.strerror})"
            raise StackError(f"{option} {requested}: {taken}; pick another port") from None
        return probe.getsockname()[1]


def prepare(args: argparse.Namespace) -> Plan:
    stack = read_stack(args.stack)
    model, is_folder = model_source(stack.settings, args.model)
    served_name = public_model_id(stack.settings, args.model, model, is_folder)
    stack = dataclasses.replace(stack, adapters=local_adapters(args.adapter, stack.settings, served_name))
    container = container_variables(stack.settings, model, served_name, stack.adapters)
    vllm = find_vllm(args.vllm)
    open_webui = None if args.no_ui else find_open_webui()
    api_port = port(args.api_port, "--api-port")
    ui_port = 0 if args.no_ui else port(args.ui_port, "--ui-port")
    folder = local_folder(args.stack)
    credentials = load_credentials(folder)
    return Plan(
        stack=stack,
        model=model,
        model_is_folder=is_folder,
        served_name=served_name,
        vllm_flags=container_flags(container),
        vllm_variables=container_process_variables(container),
        vllm=vllm,
        open_webui=open_webui,
        api_port=api_port,
        ui_port=ui_port,
        vllm_port=port(0, "vLLM's port"),
        api_key=args.api_key or credentials.api_key,
        credentials=credentials,
        folder=folder,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stopping = threading.Event()  # set by Ctrl-C or SIGTERM, at any point: the chain then stops what it started
    previous = {signum: signal.signal(signum, lambda *_: stopping.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(args, stopping)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(args: argparse.Namespace, stopping: threading.Event) -> int:
    try:
        plan = prepare(args)
    except (SettingsError, StackError, EngineError, ChatUiError) as error:
        print(f"{PROG}: {error}", file=sys.stderr, flush=True)
        return 2
    if stopping.is_set():
        return 0
    chain = LocalChain(plan, stopping)
    try:
        return chain.run()
    finally:
        chain.stop()


if __name__ == "__main__":
    sys.exit(main())
