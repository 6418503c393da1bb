"""CloudWatch's documented dashboard body structure, as a checker: `dashboard_problems(body)` lists what breaks it.

Source: "Dashboard Body Structure and Syntax",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
and PutDashboard's DashboardName (botocore's cloudwatch model).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}
VIEWS = {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"}
# The rendering-properties object that may end a metric's array.
RENDERING = {"accountId", "color", "expression", "id", "label", "period", "region", "stat", "visible", "yAxis"}
ID = re.compile(r"[a-z][A-Za-z0-9_]*")  # "must start with a lowercase letter"
NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def dashboard_problems(body: Any, name: str | None = None) -> list[str]:
    problems = []
    if name is not None and not NAME.fullmatch(name):
        problems.append(f"dashboard name {name!r}: 1-255 of A-Z, a-z, 0-9, - and _")
    if not isinstance(body, dict) or not isinstance(body.get("widgets"), list):
        return [*problems, "the body must be an object with a widgets array"]
    if not len(body["widgets"]) <= 500:
        problems.append("more than 500 widgets")
    if body.get("periodOverride", "auto") not in ("auto", "inherit"):
        problems.append("periodOverride is auto or inherit")
    for index, widget in enumerate(body["widgets"]):
        problems += [f"widget {index}: {problem}" for problem in _widget_problems(widget)]
    problems += _overlaps(body["widgets"])
    return problems


def _widget_problems(widget: Any) -> Iterator[str]:
    if not isinstance(widget, dict) or widget.get("type") not in WIDGET_TYPES:
        yield f"type must be one of {sorted(WIDGET_TYPES)}"
        return
    x, y = widget.get("x", 0), widget.get("y", 0)
    width, height = widget.get("width", 6), widget.get("height", 6)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y, width, height)):
        yield "x, y, width and height are integers"
        return
    if not (0 <= x <= 23 and y >= 0 and 1 <= width <= 24 and 1 <= height <= 1000 and x + width <= 24):
        yield f"outside the 24-column grid: x={x} y={y} width={width} height={height}"
    properties = widget.get("properties")
    if not isinstance(properties, dict):
        yield "properties is a required object"
        return
    if widget["type"] == "text" and not isinstance(properties.get("markdown"), str):
        yield "a text widget needs markdown"
    if widget["type"] == "alarm":
        alarms = properties.get("alarms")
        if (
            not isinstance(alarms, list)
            or not 1 <= len(alarms) <= 100
            or not all(str(a).startswith("arn:") for a in alarms)
        ):
            yield "an alarm widget needs alarms: 1 to 100 alarm ARNs"
    if widget["type"] == "metric":
        yield from _metric_widget_problems(properties)


def _metric_widget_problems(properties: dict) -> Iterator[str]:
    if not isinstance(properties.get("region"), str):
        yield "a metric widget needs region"
    if properties.get("view", "timeSeries") not in VIEWS:
        yield f"view {properties.get('view')!r}"
    period = properties.get("period", 300)
    if not (isinstance(period, int) and (period in (1, 5, 10, 30) or period % 60 == 0)):
        yield f"period {period!r}: 1, 5, 10, 30 or a multiple of 60"
    metrics = properties.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        yield "metrics is a non-empty array of arrays"
        return
    ids = set()
    expressions = []
    for entry in metrics:
        problems, rendering = _metric_entry(entry)
        yield from problems
        if "id" in rendering:
            if not ID.fullmatch(rendering["id"]) or rendering["id"] in ids:
                yield f"id {rendering['id']!r}: unique, starting with a lowercase letter"
            ids.add(rendering["id"])
        if "expression" in rendering:
            expressions.append(rendering["expression"])
    for expression in expressions:
        for name in re.findall(r"\b[a-z][A-Za-z0-9_]*\b", expression):
            if name not in ids:
                yield f"expression {expression!r} reads {name!r}, which no metric of the widget is"


def _metric_entry(entry: Any) -> tuple[list[str], dict]:
    """An entry is [Namespace, MetricName, DimName, DimValue, …, {rendering}] or [{expression…}]."""
    if not isinstance(entry, list) or not entry:
        return ["each metric is an array"], {}
    rendering = entry[-1] if isinstance(entry[-1], dict) else {}
    fields = entry[:-1] if rendering else entry
    problems = [f"rendering property {key!r} is not one CloudWatch knows" for key in set(rendering) - RENDERING]
    if "expression" in rendering:
        return ([*problems, "an expression entry holds only its object"] if fields else problems), rendering
    if len(fields) < 2 or len(fields) % 2 or not all(isinstance(f, str) and f for f in fields):
        problems.append(f"{fields!r}: namespace, metric name, then dimension name/value pairs of strings")
    return problems, rendering


def _overlaps(widgets: list) -> list[str]:
    cells: dict[tuple[int, int], int] = {}
    problems = []
    for index, widget in enumerate(widgets):
        if not isinstance(widget, dict):
            continue
        x, y, width, height = (widget.get(k, d) for k, d in (("x", 0), ("y", 0), ("width", 6), ("height", 6)))
        for cell in ((col, row) for col in range(x, x + width) for row in range(y, y + height)):
            if cell in cells:
                problems.append(f"widgets {cells[cell]} and {index} overlap")
                break
            cells[cell] = index
    return problems


def metrics_of(body: dict) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric the body charts (expressions left out)."""
    for widget in body["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            fields = entry[:-1] if isinstance(entry[-1], dict) else entry
            if fields:
                yield fields[0], fields[1], dict(zip(fields[2::2], fields[3::2], strict=True))
