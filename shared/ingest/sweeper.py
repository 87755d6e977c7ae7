"""The sweeper: no deployment record stays ``queued`` forever (issue 16, item 5).

A record is ``queued`` from the moment it is written until a worker picks its
request up. When storage failed between the record and its queue message and
nobody retried the delivery (GitHub does not retry on its own), the record has
no message. The sweeper, run by a timer, looks at records still ``queued``
after ``requeue_after`` and sends their request again (harmless if the original
is still there: the worker skips a deployment that ended or runs elsewhere), at
most once per ``requeue_after``; a record still ``queued`` after ``give_up_after``
is ended ``failed`` with the reason. Reads are one partition range per
environment (``status eq 'queued'`` within the time window), never a scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..audit.ledger import AuditLedger
from ..config import PlatformConfig
from ..deploy.lifecycle import finish_deployment, request_for
from ..deploy.queue import DeploymentQueue
from ..errors import Conflict

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"requeued": self.requeued, "ended": self.ended}


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def sweep_queued(ledger: AuditLedger, queue: DeploymentQueue, config: PlatformConfig, *,
                 requeue_after: timedelta = timedelta(minutes=10),
                 give_up_after: timedelta = timedelta(hours=24), now: datetime | None = None,
                 limit: int = 200) -> SweepReport:
    """Re-queue (or end) the records still ``queued`` longer than ``requeue_after``."""
    now = now or ledger.clock.now()
    report = SweepReport()
    for env in config.environments:
        page = ledger.list_deployments(env, status="queued", until=now - requeue_after,
                                       since=now - give_up_after - timedelta(days=7), limit=limit)
        for rec in page.items:
            if rec.status != "queued":
                continue
            queued_at = rec.queued_at or now
            if now - queued_at > give_up_after:
                try:
                    finish_deployment(ledger, rec, "failed",
                                      error=f"queued since {queued_at.isoformat()} and never picked up by a "
                                            "worker (its request was lost); deploy it again if still wanted")
                    report.ended.append(rec.id)
                except Conflict:
                    pass  # ended meanwhile
                continue
            last = _when(rec.extra.get("requeued_at")) or queued_at
            if now - last < requeue_after:
                continue
            extra = {**rec.extra, "requeued_at": now.isoformat(),
                     "requeued": int(rec.extra.get("requeued") or 0) + 1}
            try:
                rec = ledger.update_deployment(rec.id, extra=extra)
            except Conflict:
                continue
            queue.send(request_for(rec))
            report.requeued.append(rec.id)
    if report.requeued or report.ended:
        log.warning("sweeper: re-queued %s, ended %s", report.requeued, report.ended)
    return report
