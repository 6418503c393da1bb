"""Adapter inference components as SageMaker runs them on the base component's container.

For an adapter component SageMaker fetches its ArtifactUrl (one `.tar.gz`, the adapter's files at its root),
unpacks it, and registers it with the base's container: `POST /adapters {"name", "src"}`, the header
`X-Amzn-SageMaker-Adapter-Alias` naming it in the answer ("Adapter <alias> registered"). Each invocation of
the adapter component then reaches the base's container with `X-Amzn-SageMaker-Adapter-Identifier`, which
vLLM's `/invocations` puts in place of the body's `model`. (model_hosting_container_standards, inside vLLM
0.27.1: sagemaker/lora's register route and request model, and its inject_adapter_id transform.)

Which name SageMaker registers an adapter under is not documented. Here it is an opaque one made from the
component's name, so nothing, the proxy least of all, can come to rely on the adapter's public name or its
component's being the name vLLM knows it by.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

ADAPTER_IDENTIFIER = "X-Amzn-SageMaker-Adapter-Identifier"
ADAPTER_ALIAS = "X-Amzn-SageMaker-Adapter-Alias"
REGISTER_SECONDS = 120


class AdapterError(Exception):
    """An adapter that SageMaker would not get to InService: a one-line reason."""


def adapter_identifier(component: str) -> str:
    """The name the adapter is registered under in the container: opaque, stable for a component."""
    return "adapter-" + hashlib.sha256(component.encode()).hexdigest()[:12]


def unpack_adapter(archive: Path, into: Path) -> Path:
    """The folder vLLM loads the adapter from: `archive` itself when a folder, else the `.tar.gz` unpacked into
    `into`. The files must be at the archive's root, as SageMaker wants them."""
    if archive.is_dir():
        return archive
    if not tarfile.is_tarfile(archive):
        raise AdapterError(f"{archive}: not a .tar.gz of an adapter's files")
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as bundle:
        bundle.extractall(into, filter="data")
    if not (into / "adapter_config.json").is_file():
        found = sorted(path.name for path in into.iterdir())
        raise AdapterError(f"{archive}: no adapter_config.json at the archive's root (it holds {found})")
    return into


def register_adapter(container_url: str, identifier: str, alias: str, source: Path) -> None:
    """`POST /adapters` to the base's container, as SageMaker does when an adapter component is created."""
    target = urlsplit(container_url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=REGISTER_SECONDS)
    body = json.dumps({"name": identifier, "src": str(source)})
    headers = {"Content-Type": "application/json", ADAPTER_ALIAS: alias}
    try:
        connection.request("POST", "/adapters", body, headers)
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
    except OSError as error:
        raise AdapterError(f"adapter {alias}: the container could not be reached: {error}") from None
    finally:
        connection.close()
    if answer.status != 200:
        raise AdapterError(f"adapter {alias}: the container refused it ({answer.status}): {text[:300]}")
