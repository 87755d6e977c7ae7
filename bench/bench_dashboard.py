"""The dashboard over 365 days (`GET /api/dashboard?days=365`) on Azurite, from the DORA rollup.

One environment with two years of history (so the previous period, which the trend compares against,
is full too): by default 4,000 deployments a year, a short run; ``--per-year 32000`` (or
``BENCH_DASHBOARD_PER_YEAR``) for bench_audit's volume. Rows:

* the whole page (overview and DORA section: keys, trend, six sparklines of 53 weekly buckets, charts)
  against the DORA keys alone over the same 365 days (what ``GET /api/metrics/dora`` reads and computes);
* the sparklines in one pass (``key_series``) against one ``compute_dora`` per bucket
  (``key_series_per_bucket``, how they were computed before), asserted equal;
* the page against the page as it was rendered before (three reads of the history, one
  ``compute_dora`` per bucket), asserted to be the same HTML.

Run alone: ``python -m bench.bench_dashboard [--per-year N]``.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

from bench.bench_audit import NOW, _timed, populate
from shared.app import AppContext
from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.config import parse_config
from shared.dashboard import render_dashboard
from shared.dashboard.html import Links
from shared.metrics import dashboard
from shared.metrics.dora import Window
from shared.metrics.report import dora_report, history_for, rollup_reader
from shared.metrics.rollup import Rollup, cutoff
from shared.settings import Settings, StorageNames
from shared.storage import StorageAccount

DAYS = 365
PER_YEAR = 4_000
ENV = "prod"


def report_incidents(ledger: AuditLedger, window: Window) -> list[Any]:
    from shared.metrics.incidents import IncidentBook

    return IncidentBook(ledger, ledger.clock).list(ENV, since=window.start, until=window.end)


def _old_view(ledger: AuditLedger, now: Any, days: int) -> dashboard.DoraView:
    """The DORA section's numbers as they were computed before: a report, the previous period's report
    and the sparklines each reading the history, the sparklines one compute_dora per bucket."""
    report = dora_report(ledger, ENV, now, days)
    previous = dora_report(ledger, ENV, now - timedelta(days=days), days)
    grid = dashboard.buckets(report.window)
    history = history_for(ledger, ENV, report.window, rollup_reader(ledger, ENV, now))
    incidents = report_incidents(ledger, report.window)
    series = dashboard.key_series_per_bucket(ENV, history, incidents, report.window, grid)
    return dashboard.DoraView(report, previous, days, grid, series)


def run(per_year: int | None = None) -> list[dict[str, Any]]:
    from devhost.azurite import start_azurite

    per_year = per_year or int(os.environ.get("BENCH_DASHBOARD_PER_YEAR", PER_YEAR))
    server = start_azurite()
    try:
        storage = StorageAccount(connection_string=server.connection_string,
                                 names=StorageNames(prefix="bdash" + uuid.uuid4().hex[:8])).ensure()
        clock = FakeClock(NOW)
        config = parse_config({"repository": {"provider": "local", "url": "https://example.invalid/platform"},
                               "environments": {ENV: {"deploy_on": ["manual"]}}})
        ctx = AppContext(settings=Settings({}), clock=clock, _config=config, _storage=storage)
        ledger = ctx.ledger
        start = time.perf_counter()
        written = populate(ledger, random.Random(20261201), (ENV,), 2 * per_year, per_year // 12, 2 * DAYS)
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        Rollup(ledger).rebuild(ENV, (NOW - timedelta(days=2 * DAYS + 8)).date(), cutoff(NOW) - timedelta(days=1))
        build_s = time.perf_counter() - start
        rows: list[dict[str, Any]] = []

        ours, page = _timed(lambda: render_dashboard(ctx, [ENV], NOW, DAYS), 3)
        ref, keys = _timed(lambda: dora_report(ledger, ENV, NOW, DAYS), 3)
        rows.append({"benchmark": "dashboard: page over 365 days (overview, keys, trend, 6 sparklines)",
                     "ours": ours / 1000, "reference": ref / 1000, "ratio": ours / ref, "target": "<= 3",
                     "unit": "s", "note": f"{keys.keys['deployments']} deployments in the window, "
                                          f"{len(page) // 1024} KiB of HTML; reference = the DORA keys alone "
                                          f"(GET /api/metrics/dora) from the rollup; {written} records loaded in "
                                          f"{load_s:.0f} s, rollup of 2 years built in {build_s:.0f} s"})

        window = keys.window
        grid = dashboard.buckets(window)
        history = history_for(ledger, ENV, window, rollup_reader(ledger, ENV, NOW))
        incidents = report_incidents(ledger, window)
        ours, fast = _timed(lambda: dashboard.key_series(ENV, history, incidents, window, grid), 3)
        ref, slow = _timed(lambda: dashboard.key_series_per_bucket(ENV, history, incidents, window, grid), 1)
        assert fast == slow, "one pass and one compute_dora per bucket differ"
        rows.append({"benchmark": "dashboard: 6 sparklines over 365 days, one pass", "ours": ours / 1000,
                     "reference": ref / 1000, "ratio": ours / ref, "target": "<= 0.1", "unit": "s",
                     "note": f"{len(grid.starts)} weekly buckets over {len(history)} deployments in memory; "
                             "reference = one compute_dora per bucket (before), values asserted equal"})

        links = Links(None)
        ours, section = _timed(lambda: dashboard.dora_section(dashboard.dora_view(ledger, ENV, NOW, DAYS), links), 3)
        ref, before = _timed(lambda: dashboard.dora_section(_old_view(ledger, NOW, DAYS), links), 1)
        assert section == before, "the DORA section differs from the one rendered before"
        rows.append({"benchmark": "dashboard: DORA section over 365 days, one read", "ours": ours / 1000,
                     "reference": ref / 1000, "ratio": ours / ref, "target": "<= 0.5", "unit": "s",
                     "note": "reference = the section as rendered before (three reads of the history, "
                             "one compute_dora per bucket); same HTML asserted"})
        return rows
    finally:
        server.stop()


if __name__ == "__main__":
    n = int(sys.argv[sys.argv.index("--per-year") + 1]) if "--per-year" in sys.argv else None
    for r in run(n):
        print(f"{r['benchmark']:<70} ours {r['ours']:8.3f} {r['unit']:<2} reference {r['reference']:8.3f} "
              f"ratio {r['ratio']:6.3f}  target {r['target']}  ({r['note']})")
