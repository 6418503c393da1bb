"""OpenWebUI on 127.0.0.1, with the environment the UI host gives its container (openwebui/environment.py).

It runs from the `open-webui` package at the pinned image's version, in the venv tests/e2e/setup.sh
makes. Its data (users, chats) stays between runs in the stack's local folder, so the admin
password and OpenWebUI's secret key are made once and kept there (credentials.json, mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from openwebui.environment import openwebui_environment

# Passed through from your shell; nothing else, so a stray OPENAI_API_BASE_URLS cannot rewire the UI.
INHERITED = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE")


class ChatUiError(Exception):
    """OpenWebUI is not installed: a one-line message for the person who ran the command."""


@dataclass(frozen=True)
class Credentials:
    """What this machine keeps for a stack between runs."""

    api_key: str
    admin_password: str
    secret_key: str


def default_venv() -> Path:
    """Where tests/e2e/setup.sh installs OpenWebUI ($OPENWEBUI_E2E_VENV overrides it)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("OPENWEBUI_E2E_VENV") or cache / "sagemaker-llm" / "openwebui-e2e")


def find_open_webui() -> Path:
    """The `open-webui` command of the e2e venv; a ChatUiError with the install command when it is missing."""
    command = default_venv() / "bin" / "open-webui"
    if not command.exists():
        hint = "install it with `bash tests/e2e/setup.sh`, or pass --no-ui"
        raise ChatUiError(f"no OpenWebUI at {default_venv()}: {hint}")
    return command


def generated_secret(length: int = 48) -> str:
    """Letters and digits, as the stack's RandomPassword(special=False) makes its keys."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def load_credentials(folder: Path) -> Credentials:
    """The stack's local key and UI secrets, made on the first run and read on the next ones."""
    path = folder / "credentials.json"
    try:
        return Credentials(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    credentials = Credentials(generated_secret(), generated_secret(24), generated_secret(40))
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(credentials.__dict__, out)
    return credentials


def open_webui_command(executable: Path, port: int) -> list[str]:
    return [str(executable), "serve", "--host", "127.0.0.1", "--port", str(port)]


def open_webui_env(
    base: Mapping[str, str],
    *,
    api_base_url: str,
    api_key: str,
    model_id: str,
    admin_email: str,
    credentials: Credentials,
    ui_url: str,
    data_dir: Path,
) -> dict[str, str]:
    """The UI host's environment for OpenWebUI, pointed at the local proxy, its data in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    environment = openwebui_environment(
        api_base_url=api_base_url,
        api_key=api_key,
        model_id=model_id,
        admin_email=admin_email,
        admin_password=credentials.admin_password,
        secret_key=credentials.secret_key,
        ui_url=ui_url,
    )
    # DATA_DIR is /app/backend/data in the image (the host's data volume).
    return {name: base[name] for name in INHERITED if name in base} | environment | {"DATA_DIR": str(data_dir)}
