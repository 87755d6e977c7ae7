"""Audit ledger on Azurite: 10,000 deployments of one environment; newest 50 and a 30-day window.

The reference is the same question answered by a scan that filters on a
non-key property (what a table without the log-tail key design must do).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.azurite import start_azurite
from shared.audit import AuditLedger, DeploymentRecord
from shared.audit.keys import DeploymentKey
from shared.clock import FakeClock
from shared.settings import StorageNames
from shared.storage import StorageAccount

N = 10_000


class RequestCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, response: Any) -> None:
        self.count += 1


def _seed(ledger: AuditLedger, start: datetime) -> float:
    table = ledger.storage.table(ledger.names.deployments_table)
    batch: list[tuple[str, dict[str, Any]]] = []
    t0 = time.perf_counter()
    for i in range(N):
        when = start + timedelta(minutes=90 * i)  # ~625 days of history
        did = ledger.new_deployment_id("dev", "adf" if i % 2 else "notebooks", str(i), when=when)
        rec = DeploymentRecord(id=did, environment="dev", component=DeploymentKey(did).component,
                               commit=f"{i:040x}", status="succeeded" if i % 7 else "failed",
                               queued_at=when, started_at=when, ended_at=when + timedelta(minutes=3),
                               actor=f"dev{i % 5}", trigger="push")
        batch.append(("create", ledger._deployment_entity(rec)))
        if len(batch) == 100:
            table.submit_transaction(batch)
            batch = []
    if batch:
        table.submit_transaction(batch)
    return time.perf_counter() - t0


def run() -> list[dict[str, Any]]:
    az = start_azurite()
    try:
        storage = StorageAccount(connection_string=az.connection_string,
                                 names=StorageNames("benchledger")).ensure()
        start = datetime(2025, 1, 1, tzinfo=UTC)
        ledger = AuditLedger(storage, FakeClock(start))
        write_s = _seed(ledger, start)
        end = start + timedelta(minutes=90 * N)
        table = storage.table(storage.names.deployments_table)

        counter = RequestCounter()
        t0 = time.perf_counter()
        page = ledger.list_deployments("dev", limit=50)
        newest_s = time.perf_counter() - t0
        assert len(page.items) == 50 and page.items[0].queued_at is not None

        t0 = time.perf_counter()
        window = list(ledger.iter_deployments("dev", since=end - timedelta(days=30), until=end))
        window_s = time.perf_counter() - t0

        # Requests for the newest-50 read, counted at the HTTP layer.
        for _ in table.query_entities("PartitionKey eq 'dev'", results_per_page=51,
                                      raw_response_hook=counter).by_page().__next__():
            pass

        # Reference: a scan filtering on a non-key timestamp column.
        since_iso = (end - timedelta(days=30)).isoformat()
        t0 = time.perf_counter()
        ref_window = [e for e in table.query_entities(f"queued_at ge datetime'{since_iso}'",
                                                      results_per_page=1000)]
        ref_window_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        everything = sorted(table.list_entities(results_per_page=1000), key=lambda e: e["queued_at"],
                            reverse=True)[:50]
        ref_newest_s = time.perf_counter() - t0
        assert len(everything) == 50
        return [
            {"benchmark": "ledger: write 10,000 deployment rows (batches of 100)", "ours": write_s,
             "reference": None, "ratio": None, "target": "", "unit": "s", "note": f"{N / write_s:.0f} rows/s"},
            {"benchmark": "ledger: newest 50 of an environment", "ours": newest_s * 1000,
             "reference": ref_newest_s * 1000, "ratio": newest_s / ref_newest_s, "target": "1 request",
             "unit": "ms", "note": f"{counter.count} request(s); reference = full scan + sort"},
            {"benchmark": "ledger: 30-day window (partition range)", "ours": window_s * 1000,
             "reference": ref_window_s * 1000, "ratio": window_s / ref_window_s, "target": "",
             "unit": "ms", "note": f"{len(window)} rows incl. decoding; reference = non-key filter scan "
             f"({len(ref_window)} raw rows; Azurite scans in memory, Azure scans the table)"},
        ]
    finally:
        az.stop()


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(run())
