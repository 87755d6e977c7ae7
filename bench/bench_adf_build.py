"""Building ARM templates from factory JSON (shared/adf/build).

1. The largest corpus pair (``../shared/corpus/adf-source``, by object count): validate + build
   (full template, parameters, linked templates, global parameters).
2. A generated factory of 1,000 objects (target: under 1 s).

Reference, measured in the same run on the same input: parsing every input file and serializing
every output document with ``json`` (the floor any builder pays); the ratio says how much the rules
cost on top of that. Best of ``REPEAT`` runs. Run alone: ``.venv/bin/python -m bench.bench_adf_build``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT.parent / "shared" / "corpus" / "adf-source"
REPEAT = 5
N_OBJECTS = 1000


def _best(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _largest_pair() -> tuple[str, dict[str, bytes], str | None] | None:
    if not PAIRS.is_dir():
        return None
    best = None
    for d in sorted(PAIRS.iterdir()):
        collab = d / "collaboration"
        if not collab.is_dir():
            continue
        files = {p.relative_to(collab).as_posix(): p.read_bytes() for p in collab.rglob("*") if p.is_file()}
        pair = json.loads((d / "pair.json").read_text())
        if best is None or len(files) > len(best[1]):
            best = (d.name, files, pair.get("publish_factory_folder"))
    return best


def _row(label: str, files: dict[str, bytes], factory: str | None, target: str) -> dict[str, Any]:
    from shared.adf.build import build_factory

    result = build_factory(files, "", factory)
    outputs = list(result.files().values())

    def floor() -> None:
        for data in files.values():
            json.loads(data)
        for doc in outputs:
            json.dumps(doc, indent="\t")

    def ours() -> None:
        r = build_factory(files, "", factory)
        for doc in r.files().values():
            json.dumps(doc, indent="\t")

    ours_s, ref_s = _best(ours), _best(floor)
    return {"benchmark": f"adf build {label} ({len(result.template['resources'])} resources, "
                         f"{len(result.linked) - 2} linked)",
            "ours": ours_s, "reference": ref_s, "ratio": ours_s / ref_s, "target": target, "unit": "s",
            "note": "reference: json parse of the input + dump of the output"}


def run() -> list[dict[str, Any]]:
    from shared.adf.build.synthetic import generate_factory

    rows = []
    pair = _largest_pair()
    if pair is not None:
        rows.append(_row(f"largest pair {pair[0]}", pair[1], pair[2], "< 1 s"))
    rows.append(_row(f"generated {N_OBJECTS} objects", generate_factory(N_OBJECTS), None, "< 1 s"))
    return rows


if __name__ == "__main__":
    for r in run():
        print(f"{r['benchmark']}: {r['ours']:.3f} s vs reference {r['reference']:.3f} s, ratio {r['ratio']:.2f} "
              f"(target {r['target']})")
