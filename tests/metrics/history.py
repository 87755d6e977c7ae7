"""A synthetic deployment history written with the real ledger, with hand-computed DORA values.

Times are UTC. ``NOW`` is 2026-03-01T00:00Z; the 30-day window starts 2026-01-30T00:00Z.
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.audit import AuditLedger, CommitInfo, DeploymentRecord
from shared.clock import FakeClock
from shared.metrics.incidents import IncidentBook

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ENV = "prod"


def t(day: int, hour: int, minute: int = 0, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def deploy(ledger: AuditLedger, clock: FakeClock, *, created: datetime, ended: datetime, status: str,
           commits: list[tuple[str, datetime]], actor: str | None, env: str = ENV, component: str = "adf",
           trigger: str = "push") -> DeploymentRecord:
    """Create a deployment and drive it through running to its final status, as the orchestrator does."""
    dep_id = ledger.new_deployment_id(env, component, f"{created.isoformat()}-{commits[-1][0]}", when=created)
    head, head_time = commits[-1]
    rec = DeploymentRecord(id=dep_id, environment=env, component=component, commit=head, actor=actor,
                           trigger=trigger, commit_time=head_time, queued_at=created,
                           commits=[CommitInfo(c, ts, actor) for c, ts in commits])
    clock.set(created)
    ledger.create_deployment(rec)
    ledger.transition(dep_id, "running", at=created)
    clock.set(ended)
    return ledger.transition(dep_id, status, at=ended)


def sha(n: int) -> str:
    return f"{n:02d}" * 20


def write_history(ledger: AuditLedger, clock: FakeClock) -> dict[str, str]:
    """The history of docs/metrics.md's worked example; returns the ids by name."""
    ids: dict[str, str] = {}
    ids["D0"] = deploy(ledger, clock, created=t(25, 10, month=1), ended=t(25, 10, 10, month=1),
                       status="succeeded", commits=[(sha(0), t(25, 8, month=1))], actor="alice").id
    ids["D1"] = deploy(ledger, clock, created=t(1, 10), ended=t(1, 10, 30), status="succeeded", actor="alice",
                       commits=[(sha(0), t(25, 8, month=1)), (sha(1), t(1, 8)), (sha(2), t(1, 9))]).id
    ids["D2"] = deploy(ledger, clock, created=t(2, 10), ended=t(2, 10, 20), status="failed", actor="bob",
                       commits=[(sha(3), t(2, 9))]).id
    ids["D3"] = deploy(ledger, clock, created=t(2, 12), ended=t(2, 12, 30), status="succeeded", actor="bob",
                       commits=[(sha(3), t(2, 9)), (sha(4), t(2, 11))]).id
    ids["D4"] = deploy(ledger, clock, created=t(3, 10), ended=t(3, 10, 15), status="succeeded", actor="carol",
                       commits=[(sha(5), t(3, 6))]).id
    ids["D5"] = deploy(ledger, clock, created=t(4, 10), ended=t(4, 10, 30), status="rolled_back", actor="carol",
                       commits=[(sha(6), t(4, 9))]).id
    ids["D6"] = deploy(ledger, clock, created=t(4, 10, 40), ended=t(4, 10, 50), status="succeeded", actor="carol",
                       commits=[(sha(5), t(3, 6))], trigger="rollback").id
    ids["D7"] = deploy(ledger, clock, created=t(5, 10), ended=t(5, 10, 5), status="succeeded", actor="alice",
                       commits=[(sha(7), t(4, 10, 5))], component="notebooks").id
    ids["D8"] = deploy(ledger, clock, created=t(5, 11), ended=t(5, 11), status="superseded", actor="alice",
                       commits=[(sha(6), t(4, 9))]).id
    ids["D9"] = deploy(ledger, clock, created=t(6, 10), ended=t(6, 10, 10), status="succeeded", actor="alice",
                       commits=[(sha(8), t(6, 9, 10))]).id
    clock.set(NOW)
    incidents = IncidentBook(ledger, clock, attribution_days=7)
    i1, _ = incidents.open(ENV, "incident", "orders pipeline broken", caused_by=ids["D4"], opened_at=t(3, 12))
    incidents.resolve(i1.id, resolved_at=t(3, 14))
    i2, _ = incidents.open(ENV, "incident", "dashboards stale", opened_at=t(6, 12))
    q1, _ = incidents.open(ENV, "data_quality", "duplicate customers", caused_by=sha(8), opened_at=t(7, 9))
    incidents.resolve(q1.id, resolved_at=t(7, 10))
    ids.update(I1=i1.id, I2=i2.id, Q1=q1.id)
    return ids
