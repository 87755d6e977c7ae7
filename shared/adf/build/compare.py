"""Compare a built template with ADF's own publish output, resource by resource.

Equal after dropping ``lastPublishTime`` and empty objects and arrays (ADF adds
``"parameters": {}`` to references); ``dependsOn`` compared as a set; parameters by name,
type (case-insensitive, as ARM reads it) and default value.
"""

from __future__ import annotations

import json
from typing import Any


def normalize(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "lastPublishTime":
                continue
            n = normalize(v)
            if n in ({}, []):
                continue
            out[k] = n
        return out
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        return [v for v in items if v not in ({}, [])]
    return value


def _resource_key(r: dict[str, Any]) -> tuple[str, str]:
    return (str(r.get("type", "")).lower(), str(r.get("name", "")))


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int = 8) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: missing (expected {json.dumps(b[k])[:120]})")
            elif k not in b:
                out.append(f"{path}.{k}: unexpected {json.dumps(a[k])[:120]}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out, limit)
    elif a != b or type(a) is not type(b):
        out.append(f"{path}: {json.dumps(a)[:160]} != expected {json.dumps(b)[:160]}")


def compare_templates(built: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Differences (empty when equal) between two ARM templates of a factory."""
    problems: list[str] = []
    ours = {_resource_key(r): r for r in built.get("resources") or []}
    theirs = {_resource_key(r): r for r in expected.get("resources") or []}
    for key in sorted(set(ours) | set(theirs)):
        if key not in ours:
            problems.append(f"missing resource {key[0]} {key[1]}")
            continue
        if key not in theirs:
            problems.append(f"unexpected resource {key[0]} {key[1]}")
            continue
        a, b = dict(ours[key]), dict(theirs[key])
        da, db = set(a.pop("dependsOn", None) or []), set(b.pop("dependsOn", None) or [])
        if da != db:
            problems.append(f"{key[1]}: dependsOn extra {sorted(da - db)} missing {sorted(db - da)}")
        diffs: list[str] = []
        _diff(normalize(a), normalize(b), key[1], diffs)
        problems.extend(diffs)
    problems.extend(compare_parameters(built.get("parameters") or {}, expected.get("parameters") or {}))
    return problems


def compare_parameters(built: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for name in sorted(set(built) | set(expected)):
        if name not in built:
            problems.append(f"missing parameter {name!r} {json.dumps(expected[name])[:160]}")
        elif name not in expected:
            problems.append(f"unexpected parameter {name!r} {json.dumps(built[name])[:160]}")
        else:
            a, b = built[name], expected[name]
            if str(a.get("type", "")).lower() != str(b.get("type", "")).lower():
                problems.append(f"parameter {name!r}: type {a.get('type')} != expected {b.get('type')}")
            if ("defaultValue" in a) != ("defaultValue" in b) or \
                    normalize(a.get("defaultValue")) != normalize(b.get("defaultValue")):
                problems.append(f"parameter {name!r}: default {json.dumps(a.get('defaultValue'))[:120]} != "
                                f"expected {json.dumps(b.get('defaultValue'))[:120]}")
    return problems
