"""Blueprint: the environment schedule timer.

One timer wakes every minute (NCRONTAB in UTC: the per-environment time zones
are applied by ``shared.schedules``, since Linux Function apps ignore
``WEBSITE_TIME_ZONE``), works out the due stop/start actions since its last
run, claims each one and runs it. See ``shared/schedules/timer.py``.
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("dataops.schedules")


@bp.timer_trigger(schedule="0 * * * * *", arg_name="timer", run_on_startup=False, use_monitor=False)
def schedule_tick(timer: func.TimerRequest, context: func.Context) -> None:
    """Run the due environment schedule actions (claimed, so overlapping runs act once)."""
    from shared import app, telemetry
    from shared.schedules.service import schedule_timer

    with telemetry.invocation(context):
        report = schedule_timer(app.current()).run_once()
    if report.acted or report.failed:
        log.info("schedule tick: %s", json.dumps(report.to_json(), default=str))
    if report.failed:
        log.warning("schedule actions deferred to the next tick: %s", [f["key"] for f in report.failed])
