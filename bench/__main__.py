"""Run every benchmark in bench/ and print one table.

Each ``bench/bench_<area>.py`` exposes ``run() -> list[dict]`` with rows
``{benchmark, ours, reference, ratio, target, unit, note}``; the reference is
measured in the same run. ``python -m bench [AREA ...]`` runs a subset.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def discover(only: list[str]) -> list[str]:
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if only:
        names = [n for n in names if any(o in n for o in only)]
    return names


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ["benchmark", "ours", "reference", "ratio", "target", "unit", "note"]
    cells = [[fmt(r.get(h)) for h in headers] for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)))
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="run only benchmarks whose module name contains this")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    failed = False
    for name in discover(args.only):
        start = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += importlib.import_module(f"bench.{name}").run()
        except Exception:
            failed = True
            traceback.print_exc()
            rows.append({"benchmark": name, "note": "FAILED (see stderr)"})
        print(f"  {name} took {time.monotonic() - start:.1f}s", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
