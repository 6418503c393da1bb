"""The CloudWatch Embedded Metric Format's rules, as a checker: `emf_problems(line)` lists every rule a log line breaks.

Sources (each rule below names its own):
- [spec] https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
  and its JSON schema (awsdocs/amazon-cloudwatch-user-guide, the page's doc_source/….md)
- [dimension] https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html
- [namespace] PutMetricData's Namespace (botocore's cloudwatch model): ASCII, no control characters, not AWS/.
- [unit] MetricDatum's StandardUnit enum (botocore's cloudwatch model).
"""

from __future__ import annotations

import json
import time
from typing import Any

import botocore.session

MAX_EVENT_BYTES = 256 * 1024  # [spec] "the same limits as standard CloudWatch Logs events": 256 KB (newer pages: 1 MB)
MAX_METRICS = 100  # [spec] Metrics "MUST NOT contain more than 100 MetricDefinition objects"
MAX_DIMENSION_KEYS = 30  # [spec] a DimensionSet "MUST NOT contain more than 30 dimension keys" (older pages: 9)
MAX_VALUES = 100  # [spec] "Numeric array metric targets MUST NOT have more than 100 members"
DIRECTIVE_MEMBERS = {"Namespace", "Dimensions", "Metrics"}
DEFINITION_MEMBERS = {"Name", "Unit", "StorageResolution"}
METADATA_MEMBERS = {"CloudWatchMetrics", "Timestamp"}


def standard_units() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("cloudwatch")
    return frozenset(model.shape_for("StandardUnit").enum)


def emf_problems(line: str, *, now_ms: int | None = None) -> list[str]:
    """Every rule of the format `line` breaks; [] for a valid EMF document."""
    problems: list[str] = []
    if len(line.encode()) > MAX_EVENT_BYTES:
        problems.append("[spec] larger than a CloudWatch Logs event")
    try:
        root = json.loads(line)  # [spec] "a valid JSON object with no additional data at the beginning or end"
    except ValueError as error:
        return [f"[spec] not pure JSON: {error}"]
    if not isinstance(root, dict):
        return ["[spec] the root is not an object"]
    metadata = root.get("_aws")
    if not isinstance(metadata, dict):
        return ["[spec] no `_aws` metadata object on the root"]
    problems += [f"[spec] `_aws` has an extra member {key!r}" for key in set(metadata) - METADATA_MEMBERS]
    problems += _timestamp_problems(metadata.get("Timestamp"), now_ms)
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        return [*problems, "[spec] `_aws.CloudWatchMetrics` is not an array"]
    for directive in directives:
        problems += _directive_problems(directive, root)
    return problems


def _timestamp_problems(timestamp: Any, now_ms: int | None) -> list[str]:
    # [spec] "a number ... milliseconds after Jan 1, 1970"; the schema says integer.
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return ["[spec] `_aws.Timestamp` is not an integer number of milliseconds"]
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(timestamp - now_ms) > 3_600_000:  # ours: seconds instead of milliseconds would be 50 years off
        return [f"[spec] `_aws.Timestamp` {timestamp} is not now in milliseconds"]
    return []


def _directive_problems(directive: Any, root: dict) -> list[str]:
    if not isinstance(directive, dict):
        return ["[spec] a MetricDirective is not an object"]
    problems = [f"[spec] MetricDirective lacks {key}" for key in DIRECTIVE_MEMBERS - set(directive)]
    problems += [f"[spec] MetricDirective has an extra member {key!r}" for key in set(directive) - DIRECTIVE_MEMBERS]
    problems += _namespace_problems(directive.get("Namespace"))
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list) or not dimension_sets:  # the schema: an array, minItems 1
        problems.append("[spec] Dimensions is not a non-empty array of DimensionSets")
        dimension_sets = []
    for dimension_set in dimension_sets:
        problems += _dimension_set_problems(dimension_set, root)
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list):
        return [*problems, "[spec] Metrics is not an array"]
    if len(metrics) > MAX_METRICS:
        problems.append(f"[spec] {len(metrics)} MetricDefinitions, more than {MAX_METRICS}")
    for definition in metrics:
        problems += _definition_problems(definition, root)
    return problems


def _namespace_problems(namespace: Any) -> list[str]:
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
        return ["[spec] Namespace is not a string of 1 to 255 characters"]
    if not namespace.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in namespace):
        return ["[namespace] Namespace has non-ASCII or control characters"]
    if namespace.startswith("AWS/"):
        return ["[namespace] Namespace starts with AWS/, which is reserved for AWS services"]
    return []


def _dimension_set_problems(dimension_set: Any, root: dict) -> list[str]:
    if not isinstance(dimension_set, list) or not all(isinstance(key, str) for key in dimension_set):
        return ["[spec] a DimensionSet is not an array of strings"]
    problems = []
    if len(dimension_set) > MAX_DIMENSION_KEYS:
        problems.append(f"[spec] a DimensionSet has {len(dimension_set)} keys, more than {MAX_DIMENSION_KEYS}")
    for key in dimension_set:
        if not 1 <= len(key) <= 255 or not key.isascii() or key.startswith(":"):
            problems.append(f"[dimension] dimension name {key!r} is not 1-255 ASCII characters without a leading colon")
        value = root.get(key)
        if not isinstance(value, str):  # [spec] "The target member MUST have a string value" on the root
            problems.append(f"[spec] dimension {key!r} has no string value on the root")
        elif not (1 <= len(value) <= 1024 and value.isascii() and value.strip()) or any(ord(c) < 32 for c in value):
            problems.append(f"[dimension] dimension {key!r} value is not 1-1024 printable ASCII characters")
    return problems


def _definition_problems(definition: Any, root: dict) -> list[str]:
    if not isinstance(definition, dict):
        return ["[spec] a MetricDefinition is not an object"]
    problems = [f"[spec] MetricDefinition has an extra member {k!r}" for k in set(definition) - DEFINITION_MEMBERS]
    name = definition.get("Name")
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        return [*problems, "[spec] MetricDefinition.Name is not a string of 1 to 255 characters"]
    unit = definition.get("Unit")
    if unit is not None and unit not in standard_units():
        problems.append(f"[unit] metric {name!r} has unit {unit!r}, not a CloudWatch unit")
    if definition.get("StorageResolution", 60) not in (1, 60):
        problems.append(f"[spec] metric {name!r} has a StorageResolution other than 1 or 60")
    # [spec] targets are root members (never nested), a number or an array of at most 100 numbers.
    target = root.get(name)
    values = target if isinstance(target, list) else [target]
    if not values or len(values) > MAX_VALUES or not all(_is_number(v) for v in values):
        problems.append(f"[spec] metric {name!r} has no numeric value (or array of ≤ 100) on the root")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
