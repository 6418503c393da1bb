"""`adapters`: LoRA fine-tunes served on the base model's GPU, each a SageMaker adapter inference component.

An adapter is a public model name → the S3 URI of a `.tar.gz` holding a PEFT adapter's files at the archive
root (AWS, "Fine-tune models with adapter inference components"). Its component is named from the endpoint
and the public name; the proxy maps the name back (contract.ENV.adapters), so SageMaker's own name never shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# vLLM 0.27.1's `MaxLoRARanks` (vllm/config/lora.py), the values `--max-lora-rank` accepts; 16 is its default.
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# The proxy's ADAPTERS variable lists each adapter (≤ ~100 characters a name and its component), and a Lambda's
# whole environment holds at most 4 KB: 20 leaves room for the rest.
MAX_ADAPTERS = 20
MAX_NAME_LENGTH = 32
_PUBLIC_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_NAME_LENGTH - 1}}}")
# A single object, as ArtifactUrl wants it (botocore: ≤ 1024 characters, `(https|s3)://…`).
_ARCHIVE_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^\s*?$]+\.tar\.gz)")
# In the role's s3:GetObject resource, IAM reads `*` and `?` as wildcards and `${…}` as a policy variable.
IAM_PATTERN_CHARACTERS = "*?$"
MAX_ARCHIVE_URI_LENGTH = 1024
# InferenceComponentName: ≤ 63 characters, alphanumerics and inner hyphens (botocore's pattern).
MAX_COMPONENT_NAME_LENGTH = 63


def component_name_slug(public_name: str) -> str:
    """The part of a component name that comes from the adapter's public name: `support.v2` → `support-v2`."""
    return re.sub(r"[^A-Za-z0-9]+", "-", public_name).strip("-")


def adapter_component_name(endpoint_name: str, public_name: str) -> str:
    """`<endpoint>-lora-<slug>`, the endpoint part shortened to fit 63 characters."""
    tail = f"-lora-{component_name_slug(public_name)}"
    return f"{endpoint_name[: MAX_COMPONENT_NAME_LENGTH - len(tail)].rstrip('-')}{tail}"


def archive_location(uri: str) -> tuple[str, str]:
    """`s3://bucket/path/a.tar.gz` → (`bucket`, `path/a.tar.gz`), for the execution role's s3:GetObject."""
    match = _ARCHIVE_URI.fullmatch(uri)
    if not match:
        raise ValueError(f"not an S3 URI of a .tar.gz: {uri!r}")
    return match["bucket"], match["key"]


def adapter_problems(adapters: Any, *, base_model_name: str) -> list[str]:
    """Every problem of an `adapters` value, each naming the adapter and what to do."""
    if not isinstance(adapters, Mapping):
        return ['adapters: give an object of public model name → S3 URI, e.g. `{"support": "s3://b/support.tar.gz"}`.']
    problems = []
    if len(adapters) > MAX_ADAPTERS:
        problems.append(f"adapters: {len(adapters)} adapters; a stack serves at most {MAX_ADAPTERS}.")
    slugs: dict[str, str] = {}
    for name, uri in adapters.items():
        if not _PUBLIC_NAME.fullmatch(name):
            problems.append(
                f"adapters: {name!r} is not a model name: use up to {MAX_NAME_LENGTH} letters, digits, `.`, `_`, `:` "
                "or `-`, starting with a letter or digit."
            )
            continue
        if name == base_model_name:
            problems.append(
                f"adapters.{name}: the base model is already called {name!r}; give the adapter its own name."
            )
        slug = component_name_slug(name).lower()
        if slug in slugs:
            problems.append(
                f"adapters: {slugs[slug]!r} and {name!r} would get the same inference component name; rename one."
            )
        slugs[slug] = name
        if isinstance(uri, str) and any(c in uri for c in IAM_PATTERN_CHARACTERS):
            problems.append(
                f"adapters.{name}: {uri!r} has `*`, `?` or `$`, which IAM reads as a pattern in the role's "
                "s3:GetObject, granting more objects than this one; rename the object."
            )
        elif not isinstance(uri, str) or not _ARCHIVE_URI.fullmatch(uri) or len(uri) > MAX_ARCHIVE_URI_LENGTH:
            problems.append(
                f"adapters.{name}: {uri!r} is not the S3 URI of one `.tar.gz` (the adapter's files at the archive "
                "root), like `s3://my-bucket/adapters/support.tar.gz`."
            )
    return problems
