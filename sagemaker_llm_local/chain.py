"""The local chain running: SageMaker's runtime here, the proxy, vLLM and OpenWebUI as process groups.

Start order: the runtime emulator (a thread of this process), the proxy (answers at once), then vLLM
and OpenWebUI side by side (both take a while). Once vLLM answers /ping, each LoRA adapter becomes an adapter
component, registered with vLLM as SageMaker registers it; once OpenWebUI answers /health, the addresses are
printed. Then a child that dies ends the chain, and `stop` ends every group.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sagemaker_llm_local.adapter_components import AdapterError
from sagemaker_llm_local.chat_ui import Credentials, open_webui_command, open_webui_env
from sagemaker_llm_local.engine import START_SECONDS, VllmInstall, engine_environment, failure_cause, vllm_command
from sagemaker_llm_local.local_adapters import unserved_notice
from sagemaker_llm_local.processes import StartError, start_group, stop_groups, wait_until_answers
from sagemaker_llm_local.sagemaker_runtime import SageMakerRuntime
from sagemaker_llm_local.stack import LocalStack, proxy_variables

PROXY_START_SECONDS = 30
UI_START_SECONDS = 600
# What the proxy's boto3 uses against the emulator: never real credentials, never a profile.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


@dataclass(frozen=True)
class Plan:
    """Everything the chain needs, checked (cli.prepare)."""

    stack: LocalStack
    model: str
    """What vLLM loads: a folder or a hub id."""
    model_is_folder: bool
    served_name: str
    vllm_flags: list[str]
    vllm_variables: dict[str, str]
    """The container's other variables (VLLM_ALLOW_RUNTIME_LORA_UPDATING with adapters), for vLLM's environment."""
    vllm: VllmInstall
    open_webui: Path | None
    api_port: int
    ui_port: int
    vllm_port: int
    api_key: str
    credentials: Credentials
    folder: Path
    """The stack's local folder: credentials, OpenWebUI's data, the logs."""

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/v1"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"


def say(text: str) -> None:
    print(text, flush=True)


class LocalChain:
    def __init__(self, plan: Plan, stopping: threading.Event) -> None:
        self.plan = plan
        self.stopping = stopping
        self.runtime: SageMakerRuntime | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = plan.folder / "logs"

    def run(self) -> int:
        """0 once stopped by a signal; 1 when a part fails (one line on stderr)."""
        plan = self.plan
        started = time.monotonic()
        vllm_kind = "CPU build" if plan.vllm.cpu else "CUDA build"
        say(f"sagemaker-llm-local: stack {plan.stack.name}, model {plan.model} as {plan.served_name!r}")
        say(f"  vLLM {plan.vllm.version} ({vllm_kind}) from {plan.vllm.python}; logs in {self.logs}")
        if plan.stack.adapters:
            say("  LoRA adapters: " + ", ".join(f"{name} from {path}" for name, path in plan.stack.adapters.items()))
        if notice := unserved_notice(plan.stack.settings, plan.stack.adapters):
            say(f"  {notice}")
        try:
            runtime = self._start_runtime()
            if not self._start_proxy(runtime.url):
                return 0
            self._start_vllm()
            if plan.open_webui:
                self._start_ui(plan.open_webui)
            if not self._wait("vLLM", f"http://127.0.0.1:{plan.vllm_port}/ping", START_SECONDS):
                return 0
            self._serve_adapters(runtime)
            if plan.open_webui and not self._wait("OpenWebUI", f"{plan.ui_url}/health", UI_START_SECONDS):
                return 0
        # OSError: a command that cannot be run, a log that cannot be written; AdapterError: vLLM refused an adapter
        except (StartError, AdapterError, OSError) as error:
            print(f"sagemaker-llm-local: {error}", file=sys.stderr, flush=True)
            return 1
        self._print_ready(time.monotonic() - started)
        return self._watch()

    def stop(self) -> None:
        if self.processes:
            say("sagemaker-llm-local: stopping " + ", ".join(self.processes))
            stop_groups(list(self.processes.values()))
        if self.runtime:
            self.runtime.stop()
        self.processes.clear()
        self.runtime = None

    def _start_runtime(self) -> SageMakerRuntime:
        stack, container = self.plan.stack, f"http://127.0.0.1:{self.plan.vllm_port}"
        runtime = self.runtime = SageMakerRuntime().start()
        if stack.inference_component_name:
            runtime.serve_inference_component(stack.endpoint_name, stack.inference_component_name, container)
        else:
            runtime.serve_endpoint(stack.endpoint_name, container)
        return runtime

    def _serve_adapters(self, runtime: SageMakerRuntime) -> None:
        """Each adapter as an adapter component on the base component (SageMaker's POST /adapters to vLLM)."""
        stack = self.plan.stack
        for name, component in stack.adapter_components.items():
            path = stack.adapters[name]
            try:
                runtime.serve_adapter_component(stack.endpoint_name, component, stack.inference_component_name, path)
            except AdapterError as error:  # vLLM's reason, with the option that gave the adapter
                raise AdapterError(f"--adapter {name}: {error}") from None

    def _start_proxy(self, runtime_url: str) -> bool:
        plan = self.plan
        env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        env |= EMULATOR_CREDENTIALS | {"AWS_REGION": plan.stack.region, "AWS_DEFAULT_REGION": plan.stack.region}
        env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = runtime_url
        env |= proxy_variables(plan.stack, plan.served_name, plan.api_key)
        command = [
            sys.executable,
            "-m",
            "openai_proxy.local_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(plan.api_port),
        ]
        self._start("openai-proxy", command, env)
        return self._wait("openai-proxy", plan.api_url.removesuffix("/v1") + "/health", PROXY_START_SECONDS)

    def _start_vllm(self) -> None:
        plan = self.plan
        env = engine_environment(os.environ | plan.vllm_variables, cpu=plan.vllm.cpu, offline=plan.model_is_folder)
        self._start("vLLM", vllm_command(plan.vllm.python, plan.vllm_flags, plan.vllm_port), env)

    def _start_ui(self, executable: Path) -> None:
        plan = self.plan
        env = open_webui_env(
            os.environ,
            api_base_url=plan.api_url,
            api_key=plan.api_key,
            model_id=plan.served_name,
            admin_email=plan.stack.settings.ui_admin_email,
            credentials=plan.credentials,
            ui_url=plan.ui_url,
            data_dir=plan.folder / "open-webui",
        )
        self._start("OpenWebUI", open_webui_command(executable, plan.ui_port), env)

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = self._log(name)
        log.unlink(missing_ok=True)  # this run's log only
        self.processes[name] = start_group(command, env, log)

    def _log(self, name: str) -> Path:
        return self.logs / f"{name.lower()}.log"

    def _wait(self, name: str, url: str, seconds: float) -> bool:
        def progress(elapsed: float, line: str) -> None:
            say(f"  {name} starting… {elapsed:.0f} s  {line}")

        return wait_until_answers(
            name,
            url,
            self.processes[name],
            self._log(name),
            seconds=seconds,
            stopping=self.stopping,
            progress=progress,
            cause=failure_cause if name == "vLLM" else None,
        )

    def _print_ready(self, elapsed: float) -> None:
        plan = self.plan
        say(f"Ready in {elapsed:.0f} s.")
        say(f"  OpenAI base URL: {plan.api_url}")
        say(f"  API key: {plan.api_key}")
        say(f"  Model: {plan.served_name}")
        if plan.stack.adapters:
            say(f"  Adapters: {', '.join(plan.stack.adapters)}")
        if plan.open_webui:
            admin = plan.stack.settings.ui_admin_email
            say(f"  Chat UI: {plan.ui_url} (admin: {admin}, password: {plan.credentials.admin_password})")
        say("Press Ctrl-C to stop.")

    def _watch(self) -> int:
        while not self.stopping.wait(1):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = self._log(name)
                    print(
                        f"sagemaker-llm-local: {name} stopped unexpectedly ({process.returncode}) (log: {log})",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
        return 0
