"""Blueprint: the dashboard, server-rendered HTML (inline CSS and SVG, no script, nothing external).

* ``GET /api/dashboard``: per environment (all, or ``environment``) over ``days`` (default 30);
* ``GET /api/dashboard/deployments/{id}``: one deployment as a page.

Links carry the function key the page was opened with (``code``).
"""

from __future__ import annotations

import azure.functions as func

from functions._http import handle

bp = func.Blueprint()


def _html(body: str) -> func.HttpResponse:
    from shared.dashboard.html import CSP

    return func.HttpResponse(body, status_code=200, mimetype="text/html", charset="utf-8",
                             headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                      "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


@bp.route(route="dashboard", methods=["GET"])
@handle(query={"environment", "days"})
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    """Per environment: deployed commits, status, drift, schedule, waiting approvals, DORA keys and charts."""
    from shared import app
    from shared.audit.queries import check_environment, parse_int
    from shared.dashboard import render_dashboard

    ctx = app.current()
    params = dict(req.params)
    known = list(ctx.config.environments)
    only = check_environment(params["environment"], known) if params.get("environment") else None
    days = parse_int("days", params["days"], 1, 3650) if params.get("days") else 30
    now = ctx.clock.now()
    return _html(render_dashboard(ctx, [only] if only else known, now, days, code=params.get("code"), only=only))


@bp.route(route="dashboard/deployments/{id}", methods=["GET"])
@handle(query=set())
def dashboard_deployment(req: func.HttpRequest) -> func.HttpResponse:
    """One deployment: plan, steps with durations, per-object results in order, errors, trace id."""
    from shared import app
    from shared.dashboard import render_deployment

    ctx = app.current()
    params = dict(req.params)
    return _html(render_deployment(ctx, req.route_params.get("id", ""), ctx.clock.now(), code=params.get("code")))
