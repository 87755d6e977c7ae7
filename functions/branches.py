"""Blueprint: ``GET /api/branches``: the branch workspaces (branch, folder, owner, last sync, age)."""

from __future__ import annotations

import azure.functions as func

from functions._http import handle, json_response

bp = func.Blueprint()


@bp.route(route="branches", methods=["GET"])
@handle(query={"state", "branch"})
def list_branches(req: func.HttpRequest) -> func.HttpResponse:
    """Branch workspaces, newest push first; ``state`` active|removing|removed|all (default: not removed),
    ``branch`` one branch."""
    from shared import app
    from shared.branches.listing import BranchQuery
    from shared.branches.listing import list_branches as listing

    ctx = app.current()
    items = listing(ctx, BranchQuery.parse(dict(req.params)))
    return json_response({"items": items, "count": len(items),
                          "configured": ctx.config.databricks.branch_workspaces is not None})
