"""Diffing definitions: normalized JSON, changed paths (never values: they may be secret)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..template import Secure

# service-maintained properties that are not part of a definition
# (read-only: integration runtime state, managed network ids, private endpoint provisioning)
IGNORED_PROPERTIES = frozenset({"runtimeState", "lastPublishTime", "state", "alias", "vNetId",
                                "provisioningState", "connectionState", "isReserved"})
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]00:00)?$")


def _norm_time(value: str) -> str:
    m = _ISO.match(value)
    if not m:
        return value
    base = m.group(1) if len(m.group(1)) > 16 else m.group(1) + ":00"
    frac = (m.group(2) or "").rstrip("0").rstrip(".")
    return base + frac


def normalize(value: Any, key: str = "") -> Any:
    """Canonical JSON for comparison: no nulls, times as instants, secure markers kept."""
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str) and key in ("startTime", "endTime"):
        return _norm_time(value)
    return value


def diff_paths(desired: Any, live: Any, path: str = "", out: list[str] | None = None,
               limit: int = 20) -> list[str]:
    """Paths where ``desired`` and ``live`` differ (values never included: they may be secret)."""
    out = [] if out is None else out
    if len(out) >= limit or isinstance(desired, Secure):
        return out
    if isinstance(desired, dict) and isinstance(live, dict):
        for k in sorted(set(desired) | set(live), key=str):
            if not path and k in IGNORED_PROPERTIES:
                continue
            diff_paths(desired.get(k), live.get(k), f"{path}.{k}" if path else str(k), out, limit)
    elif isinstance(desired, list) and isinstance(live, list):
        if len(desired) != len(live):
            out.append(f"{path}[length {len(live)} -> {len(desired)}]")
        else:
            for i, (d, lv) in enumerate(zip(desired, live, strict=True)):
                diff_paths(d, lv, f"{path}[{i}]", out, limit)
    elif isinstance(live, dict) and isinstance(live.get("value"), str) and live.get("type") == "SecureString" \
            and isinstance(desired, dict) and set(desired) == set(live):
        pass  # the service masks secrets it returns; nothing to compare
    elif desired != live or isinstance(desired, bool) != isinstance(live, bool):
        out.append(path or "(root)")
    return out


def _canonical(props: Mapping[str, Any]) -> str | None:
    try:
        return json.dumps({k: v for k, v in props.items() if k not in IGNORED_PROPERTIES}, sort_keys=True,
                          separators=(",", ":"))
    except (TypeError, ValueError):  # a Secure marker (or anything not JSON): compare the slow way
        return None


def definition_changes(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> list[str]:
    """Changed property paths between a desired and a live definition (``properties`` of each)."""
    # fast path: byte-identical JSON (ignored properties aside) is no change (the common re-deploy)
    d = _canonical(desired)
    if d is not None and d == _canonical(live or {}):
        return []
    return diff_paths(normalize(dict(desired)), normalize(dict(live or {})))
