"""Blueprint: ``GET /api/metrics/dora?environment=&days=&group_by=author|pusher&definitions=&benchmark=``."""

from __future__ import annotations

import azure.functions as func

from functions._http import handle, json_response
from shared.metrics.params import METRICS_PARAMS

bp = func.Blueprint()


@bp.route(route="metrics/dora", methods=["GET"])
@handle(query=METRICS_PARAMS)
def dora(req: func.HttpRequest) -> func.HttpResponse:
    """The DORA keys of one environment over a window, by the configured (or asked) definitions and tiers."""
    from shared import app
    from shared.metrics.params import MetricsQuery

    ctx = app.current()
    q = MetricsQuery.parse(dict(req.params), list(ctx.config.environments), ctx.config.production_environment)
    return json_response(q.report(ctx).to_json())
