"""One JSON encoding for what the product answers: HTTP bodies and the CLI's ``--json`` output.

Times are ISO 8601, anything with ``to_json()`` is its JSON shape, dataclass-free
values fall back to ``str`` (never a ``TypeError`` half-way through an answer).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any


def encode(o: Any) -> Any:
    """``json`` ``default=`` hook: the JSON form of a value ``json`` does not know."""
    if isinstance(o, datetime | date):
        return o.isoformat()
    if hasattr(o, "to_json"):
        return o.to_json()
    return str(o)


def dumps(obj: Any, *, indent: int | None = None) -> str:
    return json.dumps(obj, default=encode, indent=indent)
