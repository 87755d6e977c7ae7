"""Read what the DORA keys need from the ledger (partition ranges only) and compute them."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..audit import AuditLedger, DeploymentRecord
from .dora import COUNTED, DoraReport, Window, carried_commits, compute_dora, created_at
from .incidents import IncidentBook

# The properties the keys need: reading only these halves the cost of a long window.
FIELDS = ["actor", "trigger", "status", "queued_at", "ended_at", "commit_time", "commits", "commits_blob"]
# Deployments just before the window decide whether the first one inside it is a fix.
MIN_LOOKBACK = timedelta(days=7)


def history_for(ledger: AuditLedger, environment: str, window: Window) -> list[DeploymentRecord]:
    """The window's deployments plus the earlier ones that may already have carried their commits.

    A commit can only have been deployed after its own timestamp, so reading back to the oldest
    commit timestamp of a successful deployment in the window is exact. Both reads are RowKey
    ranges of the environment's partition.
    """
    inside = list(ledger.iter_deployments(environment, since=window.start, until=window.end, select=FIELDS))
    oldest = window.start - MIN_LOOKBACK
    for d in inside:
        if d.status in COUNTED:
            for c in carried_commits(d):
                if c.timestamp is not None and c.timestamp < oldest:
                    oldest = c.timestamp
    # until is inclusive to the millisecond: step one back so nothing is read twice.
    before = ledger.iter_deployments(environment, since=oldest,
                                     until=window.start - timedelta(milliseconds=1), select=FIELDS)
    seen = {d.id for d in inside}
    return inside + [d for d in before if d.id not in seen and created_at(d) < window.start]


def dora_report(ledger: AuditLedger, environment: str, now: datetime, days: int, *,
                by_developer: bool = False) -> DoraReport:
    """The DORA report of ``environment`` over the ``days`` before ``now``."""
    window = Window.last_days(now, days)
    deployments = history_for(ledger, environment, window)
    incidents = IncidentBook(ledger, ledger.clock).list(environment, since=window.start, until=window.end)
    return compute_dora(environment, deployments, incidents, window, by_developer=by_developer)
