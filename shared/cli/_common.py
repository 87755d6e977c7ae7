"""Helpers shared by the command modules: context, output (table, JSON, YAML), times, confirmation."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..app import AppContext
from ..errors import BadRequest
from ..jsonout import dumps

# The output format of this run (``-o/--output``; ``--json`` is ``-o json``), set by ``main``.
OUTPUT = {"format": "table"}


def context(args: argparse.Namespace) -> AppContext:
    components = getattr(args, "components", None)
    if components is None:
        return AppContext(config_path=getattr(args, "config", None))
    return AppContext(config_path=getattr(args, "config", None), components=components)


def add_json(p: argparse.ArgumentParser) -> None:
    """Kept for command modules: ``--json`` is a global option now (an alias of ``-o json``)."""


def add_dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")


def add_yes(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true",
                   help="do not ask for confirmation (needed without a terminal for an environment with "
                        "approval: required)")


def print_json(obj: Any) -> None:
    """Structured output in the format asked for (JSON, or YAML with ``-o yaml``)."""
    if OUTPUT["format"] == "yaml":
        import json

        import yaml

        sys.stdout.write(yaml.safe_dump(json.loads(dumps(obj)), sort_keys=False, allow_unicode=True))
        return
    sys.stdout.write(dumps(obj, indent=2) + "\n")


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def cut(text: str | None, width: int) -> str:
    """``text`` on one line, at most ``width`` characters; a cut ends with an ellipsis."""
    one = " ".join((text or "").split())
    return one if len(one) <= width else one[: max(0, width - 1)] + "…"


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def when(value: str, now: datetime | None = None) -> str:
    """A ``--since``/``--until`` value as ISO 8601 UTC: ``2d``, ``3h``, ``30m``, ``90s``, ``1w`` before now,
    or an ISO 8601 time as given (argparse ``type=``)."""
    m = _RELATIVE.match(value.strip().lower())
    if m is None:
        return value
    delta = timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})
    return ((now or datetime.now(UTC)) - delta).isoformat().replace("+00:00", "Z")


def is_tty(stream: Any = None) -> bool:
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def confirm(args: argparse.Namespace, question: str, refusal: str) -> None:
    """Go on when ``--yes`` was given or a person at a terminal answers yes; else refuse (exit 2)."""
    if getattr(args, "yes", False):
        return
    if not (is_tty(sys.stdin) and is_tty(sys.stderr)):
        raise BadRequest(f"{refusal}: pass --yes to confirm (no terminal to ask on)", code="confirmation_required")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise BadRequest(f"{refusal}: not confirmed", code="not_confirmed")


def confirm_protected(args: argparse.Namespace, config: Any, env: str, what: str, refusal: str) -> None:
    """An environment with ``approval: required`` is protected: ``--yes``, or yes at a terminal."""
    if config.environment(env).approval != "required":
        return
    confirm(args, f"{env} has approval: required. {what[0].upper()}{what[1:]}?",
            f"{refusal} ({env} has approval: required)")
