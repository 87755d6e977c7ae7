"""Blueprint: ``GET /api/metrics/dora?environment=&days=&group_by=developer``."""

from __future__ import annotations

import azure.functions as func

from functions._http import handle, json_response
from shared.metrics.params import METRICS_PARAMS

bp = func.Blueprint()


@bp.route(route="metrics/dora", methods=["GET"])
@handle(query=METRICS_PARAMS)
def dora(req: func.HttpRequest) -> func.HttpResponse:
    """The DORA keys of one environment over a window, classified against the DORA 2023 tiers."""
    from shared import app
    from shared.metrics.params import MetricsQuery
    from shared.metrics.report import dora_report

    ctx = app.current()
    q = MetricsQuery.parse(dict(req.params), list(ctx.config.environments), ctx.config.production_environment)
    report = dora_report(ctx.ledger, q.environment, ctx.clock.now(), q.days, by_developer=q.by_developer)
    return json_response(report.to_json())
