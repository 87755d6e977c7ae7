"""Helpers shared by the command modules: context, JSON and table output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..app import AppContext
from ..jsonout import dumps


def context(args: argparse.Namespace) -> AppContext:
    components = getattr(args, "components", None)
    if components is None:
        return AppContext(config_path=getattr(args, "config", None))
    return AppContext(config_path=getattr(args, "config", None), components=components)


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_dry_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj, indent=2) + "\n")


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
