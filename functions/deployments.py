"""Blueprint: the deployment history (``GET /api/deployments``, ``GET /api/deployments/{id}``).

Approve, reject and rollback live in ``functions/approvals.py``.
"""

from __future__ import annotations

import azure.functions as func

from functions._http import handle, json_response
from shared.audit.queries import HISTORY_PARAMS

bp = func.Blueprint()


@bp.route(route="deployments", methods=["GET"])
@handle(query=HISTORY_PARAMS)
def list_deployments(req: func.HttpRequest) -> func.HttpResponse:
    """History newest first; filters environment, component, status, since, until, actor, commit."""
    from shared import app
    from shared.audit.queries import HistoryQuery, list_history

    ctx = app.current()
    query = HistoryQuery.parse(dict(req.params), list(ctx.config.environments), ctx.components.names())
    page = list_history(ctx.ledger, query)
    items = [i if isinstance(i, dict) else i.to_json(include_plan=False) for i in page.items]
    return json_response({"items": items, "count": len(items), "continuation": page.continuation})


@bp.route(route="deployments/{id}", methods=["GET"])
@handle
def get_deployment(req: func.HttpRequest) -> func.HttpResponse:
    """One deployment with its plan, steps, per-object results and status history."""
    from shared import app
    from shared.audit.queries import deployment_detail

    ctx = app.current()
    return json_response(deployment_detail(ctx.ledger, req.route_params.get("id", "")))
