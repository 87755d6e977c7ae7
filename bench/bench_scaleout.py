"""Scale-out benchmark (issue 19): deployment throughput with 1 and with 3 function app instances.

The same work in both runs: 24 environments x 2 components, 4 pushes (2 to
``main``, 2 to ``adf_publish``, so 96 deployments) queued at once, deployments against the
Databricks and ARM stand-ins with latency (an ADF deployment takes ~3 s). Each
instance is a ``python -m devhost`` process with the project's ``host.json``
(``batchSize`` 4, so up to 6 deployments per instance); all share one Azurite.
The pushes are queued first (through an HTTP-only instance), then the worker
instances start; throughput is deployments ended per second from the first
deployment started to the last one ended (audit times). Reference: the same work on 1 instance, measured
in the same run. Target: >= 2.2x with 3 instances, with no two deployments of one
environment and component overlapping (checked from the audit start/end times).

Run alone: ``.venv/bin/python -m bench.bench_scaleout``.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ENVIRONMENTS, PUSHES = 24, 4
DATABRICKS_LATENCY, ADF_SECONDS = 0.3, 3.0


def overlaps(deployments: list[Any]) -> int:
    lanes: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for d in deployments:
        if d.started_at and d.ended_at:
            lanes[d.lane].append(d)
    n = 0
    for items in lanes.values():
        items.sort(key=lambda d: d.started_at)
        n += sum(a.ended_at > b.started_at for a, b in itertools.pairwise(items))
    return n


def measure(azurite: Any, instances: int) -> tuple[float, int, int, dict[str, int]]:
    """(seconds, deployments, overlaps, statuses) for the workload on ``instances`` instances."""
    from devhost.scaleout import ScaleOut

    with tempfile.TemporaryDirectory() as tmp, \
            ScaleOut(azurite, Path(tmp), instances=instances, environments=ENVIRONMENTS, defer_workers=True,
                     databricks_latency=DATABRICKS_LATENCY, adf_deploy_seconds=ADF_SECONDS) as run:
        run.make_commits(PUSHES)
        with ThreadPoolExecutor(4) as pool:  # GitHub delivers pushes concurrently
            ids = run.deliver(pool=pool)
        run.start_workers()  # the burst is queued: now the instances drain it
        deployments = run.wait_final(len(ids), timeout=900)
        # From the first deployment started to the last one ended (audit times): the instances'
        # start-up and the webhooks are outside the measured span.
        seconds = (max(d.ended_at for d in deployments if d.ended_at)
                   - min(d.started_at for d in deployments if d.started_at)).total_seconds()
        statuses: dict[str, int] = defaultdict(int)
        for d in deployments:
            statuses[d.status] += 1
        return seconds, len(deployments), overlaps(deployments), dict(statuses)


def run() -> list[dict[str, Any]]:
    from devhost.azurite import start_azurite

    azurite = start_azurite()
    try:
        t1, n1, o1, s1 = measure(azurite, 1)
        t3, n3, o3, s3 = measure(azurite, 3)
    finally:
        azurite.stop()
    ratio = (n3 / t3) / (n1 / t1)
    work = f"{ENVIRONMENTS} environments x 2 components, {PUSHES} pushes"
    ok1, ok3 = s1.get("succeeded", 0), s3.get("succeeded", 0)
    return [
        {"benchmark": "scale-out: a queued burst settled, deployments/s, 3 instances vs 1", "ours": n3 / t3,
         "reference": n1 / t1, "ratio": ratio, "target": ">= 2.2", "unit": "deployments/s",
         "note": f"{work}; 1 instance {t1:.1f} s {s1}; 3 instances {t3:.1f} s {s3}"},
        {"benchmark": "scale-out: applied (succeeded) deployments/s, 3 instances vs 1", "ours": ok3 / t3,
         "reference": ok1 / t1, "ratio": (ok3 / t3) / (ok1 / t1), "target": None, "unit": "deployments/s",
         "note": "fewer apply with more instances: a newer commit that runs first supersedes the older ones"},
        {"benchmark": "scale-out: overlapping deployments of one environment+component", "ours": o3,
         "reference": o1, "ratio": None, "target": "0", "unit": "pairs",
         "note": "from the audit start/end times (3 instances; reference: 1 instance)"},
    ]


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
