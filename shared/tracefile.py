"""Reading the local trace file (``DATAOPS_TRACE_FILE``, JSON lines) as a span tree with durations.

``make run`` exports every span of the stack there; ``dataops audit show ID --trace``
prints the spans of that deployment (its pipeline runs and everything under them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DEFAULT = ".local/traces.jsonl"
RUN_ID = "cicd.pipeline.run.id"


def trace_file(settings_value: str | None = None) -> Path:
    return Path(settings_value or os.environ.get("DATAOPS_TRACE_FILE") or DEFAULT)


def read_trace(path: Path, trace_id: str) -> list[dict[str, Any]]:
    """Every span of ``trace_id`` in the file (a line that is not a span is skipped)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as f:
        for line in f:
            if trace_id not in line:
                continue
            try:
                span = json.loads(line)
            except ValueError:
                continue
            if isinstance(span, dict) and span.get("trace_id") == trace_id:
                out.append(span)
    return out


def _ms(span: dict[str, Any]) -> float:
    try:
        return (int(span["end"]) - int(span["start"])) / 1e6
    except (KeyError, TypeError, ValueError):
        return 0.0


def tree_lines(spans: list[dict[str, Any]], run_id: str | None = None) -> list[str]:
    """The span tree, indented, with durations; only the subtrees of ``run_id``'s pipeline runs if given."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s.get("parent_id") if s.get("parent_id") in by_id else None
        children.setdefault(parent, []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: s.get("start") or 0)
    if run_id is None:
        roots: Iterable[dict[str, Any]] = children.get(None, [])
    else:
        roots = [s for s in sorted(spans, key=lambda s: s.get("start") or 0)
                 if (s.get("attributes") or {}).get(RUN_ID) == run_id and s.get("kind") == "SERVER"]
    lines: list[str] = []

    def walk(s: dict[str, Any], depth: int) -> None:
        attrs = s.get("attributes") or {}
        note = [f"{k}={attrs[k]}" for k in ("cicd.pipeline.result", "cicd.pipeline.task.run.result",
                                            "http.response.status_code", "deployment.environment.name")
                if k in attrs]
        status = " ERROR" if s.get("status") == "ERROR" else ""
        lines.append(f"{'  ' * depth}{s['name']}  {_ms(s):.1f} ms{status}" + (f"  [{', '.join(note)}]"
                                                                            if note else ""))
        for c in children.get(s["span_id"], []):
            walk(c, depth + 1)

    for r in roots:
        walk(r, 0)
    return lines
