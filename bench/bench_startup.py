"""Cold start: ``import function_app`` vs importing the heavy SDKs it must not load at start-up."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP = "import function_app"
HEAVY = "import databricks.sdk, azure.mgmt.datafactory, azure.mgmt.resource"


def _time(code: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(runs: int = 7) -> list[dict[str, Any]]:
    _time("pass", 2)  # warm the file cache
    base = _time("pass", runs)
    app = _time(APP, runs)
    heavy = _time(HEAVY, runs)
    # Interpreter start-up is common to both; compare the import cost itself.
    ours, ref = app - base, heavy - base
    return [{"benchmark": "startup: import function_app vs heavy SDKs", "ours": ours * 1000,
             "reference": ref * 1000, "ratio": ours / ref, "target": "<= 0.25", "unit": "ms",
             "note": f"median of {runs}, interpreter start ({base * 1000:.0f} ms) subtracted"}]


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
