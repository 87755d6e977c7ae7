"""What the maintenance timer does (``functions/maintenance.py``): finish what was left half-done.

1. Deployment records still ``queued`` whose request was lost are re-queued, or
   ended after a day (:mod:`shared.ingest.sweeper`).
2. Triggers a failed restore could not start again (recorded as stranded) are
   started, until they are (:mod:`shared.adf.stranded`).
3. Branch workspaces merged into main or without a push for their time-to-live are
   removed (:mod:`shared.branches.sweep`).

Each part runs on its own: one failing does not stop the other.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import AppContext

log = logging.getLogger(__name__)


def run_maintenance(ctx: AppContext) -> dict[str, Any]:
    from .deploy.queue import DeploymentQueue
    from .ingest.sweeper import sweep_queued

    report: dict[str, Any] = {}
    try:
        report.update(sweep_queued(ctx.ledger, DeploymentQueue(ctx.storage), ctx.config).to_json())
    except Exception:
        log.exception("maintenance: sweeping queued deployments failed")
        report["sweep_failed"] = True
    try:
        from .adf.stranded import retry_stranded
        from .release.notify import Notifier

        notifier = Notifier(ctx.config, ctx.settings, ctx.clock, ctx.ledger)
        report["stranded"] = retry_stranded(ctx.config, ctx.ledger, ctx.settings, ctx.storage, notifier=notifier)
    except Exception:
        log.exception("maintenance: retrying stranded triggers failed")
        report["stranded_failed"] = True
    if ctx.config.databricks.branch_workspaces is not None:
        try:
            from .branches.sweep import sweep

            branches = sweep(ctx)
            if branches.removals or branches.errors:
                report.update(branches.to_json())
        except Exception:
            log.exception("maintenance: sweeping branch workspaces failed")
            report["branches_failed"] = True
    return report
