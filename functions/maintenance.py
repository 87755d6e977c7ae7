"""Blueprint: the maintenance timer (issue 16): nothing stays half-done.

Every five minutes: deployment records still ``queued`` whose request was lost
are re-queued or ended (``shared/ingest/sweeper.py``), and triggers a failed
restore left stopped are started again (``shared/adf/stranded.py``).
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("dataops.maintenance")


@bp.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def maintenance_tick(timer: func.TimerRequest) -> None:
    """Sweep orphaned ``queued`` records; retry stranded triggers."""
    from shared import app
    from shared.maintenance import run_maintenance

    report = run_maintenance(app.current())
    if any(report.values()):
        log.info("maintenance: %s", json.dumps(report, default=str))
