"""What ADF's serializer changes in an object's JSON on the way to the ARM template.

* Dataset ``typeProperties`` and activity ``typeProperties`` (nested activities included, but not
  their dataset-reference parameters): a plain string that starts with ``@`` (``@@`` is a literal
  ``@``) or interpolates (``@{``) is dynamic content, written as ``{"value": "...", "type": "Expression"}``.
* Data flow scripts (``script`` or ``scriptLines``): inside ``mapColumn(...)`` and ``groupBy(...)``
  a column mapped to itself (``x = x``) is written as ``x``.
"""

from __future__ import annotations

import re
from typing import Any

_SELF_MAP = re.compile(r"(?<![\w.$'\"])([A-Za-z_][A-Za-z0-9_]*) = \1(?![\w.(\[])")
_SPANS = re.compile(r"\b(mapColumn|groupBy)\(")


def _dynamic(value: str) -> bool:
    return (value.startswith("@") and not value.startswith("@@")) or "@{" in value


def expressions(value: Any, nested_activities: bool = False) -> Any:
    if isinstance(value, str):
        return {"value": value, "type": "Expression"} if _dynamic(value) else value
    if isinstance(value, dict):
        if str(value.get("type", "")).lower() == "expression" and "value" in value:
            return value
        out = {}
        for k, v in value.items():
            if nested_activities and k in ("activities", "ifTrueActivities", "ifFalseActivities",
                                           "defaultActivities") and isinstance(v, list):
                out[k] = [activity(a) for a in v]
            elif nested_activities and k == "cases" and isinstance(v, list):
                out[k] = [{**c, "activities": [activity(a) for a in c["activities"]]}
                          if isinstance(c, dict) and isinstance(c.get("activities"), list) else c for c in v]
            else:
                out[k] = expressions(v, nested_activities)
        return out
    if isinstance(value, list):
        return [expressions(v, nested_activities) for v in value]
    return value


def _close(text: str, start: int) -> int:
    """Index of the parenthesis closing the one before ``start`` (quotes respected)."""
    depth, i, quote = 1, start, ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(text)


def script(text: str) -> str:
    out, pos = [], 0
    for m in _SPANS.finditer(text):
        if m.start() < pos:
            continue
        end = _close(text, m.end())
        out.append(text[pos:m.end()])
        out.append(_SELF_MAP.sub(r"\1", text[m.end():end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def activity(act: Any) -> Any:
    if isinstance(act, dict) and isinstance(act.get("typeProperties"), dict):
        return {**act, "typeProperties": expressions(act["typeProperties"], nested_activities=True)}
    return act


def pipeline(props: dict[str, Any]) -> None:
    acts = props.get("activities")
    if isinstance(acts, list):
        props["activities"] = [activity(a) for a in acts]


def dataset(props: dict[str, Any]) -> None:
    tp = props.get("typeProperties")
    if isinstance(tp, dict):
        props["typeProperties"] = expressions(tp)


def dataflow(props: dict[str, Any]) -> None:
    tp = props.get("typeProperties")
    if not isinstance(tp, dict):
        return
    if isinstance(tp.get("script"), str):
        tp["script"] = script(tp["script"])
    lines = tp.get("scriptLines")
    if isinstance(lines, list) and all(isinstance(x, str) for x in lines):
        tp["scriptLines"] = script("\n".join(lines)).split("\n")
