"""Checks of caller input shared by the webhook intake, the HTTP handlers and the CLI."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import BadRequest


def json_object(raw: bytes, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object, or a 400 ``invalid_json`` naming what is wrong."""
    if not raw.strip():
        if required:
            raise BadRequest("a JSON object body is required", code="invalid_json")
        return {}
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body is not valid JSON", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object", code="invalid_json")
    return payload


def optional_text(body: Mapping[str, Any], name: str, *, strip: bool = True) -> str | None:
    """An optional string field (``None`` when absent or blank); 400 ``invalid_<name>`` when not a string."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string", code=f"invalid_{name}")
    return (value.strip() or None) if strip else value
