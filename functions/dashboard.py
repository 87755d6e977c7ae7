"""Blueprint: ``GET /api/dashboard`` — one self-contained HTML page (inline SVG charts, no script)."""

from __future__ import annotations

import azure.functions as func

from functions._http import handle

bp = func.Blueprint()

# Nothing may load from elsewhere: styles are inline, images are data: URIs, there is no script.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


@bp.route(route="dashboard", methods=["GET"])
@handle(query={"environment", "days"})
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """Per environment (all, or ``environment``) over ``days`` (default 30): charts, keys and tiers."""
    from shared import app
    from shared.audit.queries import check_environment, parse_int, reject_unknown
    from shared.metrics.dashboard import render_dashboard
    from shared.metrics.report import dora_report

    ctx = app.current()
    params = dict(req.params)
    reject_unknown(params, frozenset({"environment", "days", "code"}))
    known = list(ctx.config.environments)
    envs = [check_environment(params["environment"], known)] if params.get("environment") else known
    days = parse_int("days", params["days"], 1, 3650) if params.get("days") else 30
    now = ctx.clock.now()
    reports = [dora_report(ctx.ledger, env, now, days) for env in envs]
    return func.HttpResponse(render_dashboard(reports, now), status_code=200, mimetype="text/html",
                             charset="utf-8", headers={"Content-Security-Policy": CSP,
                                                       "Cache-Control": "no-store"})
