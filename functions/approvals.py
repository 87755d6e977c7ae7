"""Blueprint: approve, reject and roll back deployments.

``POST /api/deployments/{id}/approve`` and ``/reject`` (body: optional ``reason``; the caller is
App Service Authentication's principal, never a body field) and
``POST /api/deployments/{id}/rollback`` (body: optional ``to`` SHA that succeeded there before,
``reason``, ``force``, ``emergency`` (with ``reason``, for a caller holding an emergency role)).
"""

from __future__ import annotations

import azure.functions as func

from functions._http import caller, handle, json_body, json_response

bp = func.Blueprint()


def _decide(req: func.HttpRequest, approve: bool) -> func.HttpResponse:
    from shared import app
    from shared.deploy.queue import DeploymentQueue
    from shared.release import after_end_hooks, decide
    from shared.validation import optional_text

    ctx = app.current()
    who = caller(req)
    body = json_body(req, required=False)
    queue = DeploymentQueue(ctx.storage)
    rec = decide(ctx.ledger, queue, ctx.config, req.route_params.get("id", ""), approve=approve,
                 actor=who, reason=optional_text(body, "reason"),
                 after_end=after_end_hooks(ctx.config, ctx.storage, ctx.ledger, ctx.settings, ctx.clock, queue))
    return json_response(rec.to_json(include_plan=False))


@bp.route(route="deployments/{id}/approve", methods=["POST"])
@handle(body={"reason"})
def approve_deployment(req: func.HttpRequest) -> func.HttpResponse:
    """Release a deployment waiting for approval (it goes back to the queue)."""
    return _decide(req, True)


@bp.route(route="deployments/{id}/reject", methods=["POST"])
@handle(body={"reason"})
def reject_deployment(req: func.HttpRequest) -> func.HttpResponse:
    """Refuse a deployment waiting for approval (it ends ``rejected``)."""
    return _decide(req, False)


@bp.route(route="deployments/{id}/rollback", methods=["POST"])
@handle(body={"to", "reason", "force", "emergency"})
def rollback_deployment(req: func.HttpRequest) -> func.HttpResponse:
    """Queue a redeployment of the last good commit before this deployment (or ``to``): 202."""
    from shared import app
    from shared.deploy.queue import DeploymentQueue
    from shared.errors import BadRequest
    from shared.release import Notifier, request_rollback
    from shared.validation import optional_text

    ctx = app.current()
    who = caller(req)
    body = json_body(req, required=False)
    force, emergency = body.get("force", False), body.get("emergency", False)
    if not isinstance(force, bool) or not isinstance(emergency, bool):
        raise BadRequest("'force' and 'emergency' must be true or false", code="invalid_flag")
    rec = request_rollback(ctx.ledger, DeploymentQueue(ctx.storage), ctx.config, req.route_params.get("id", ""),
                           actor=who, to=optional_text(body, "to"), reason=optional_text(body, "reason"),
                           force=force, emergency=emergency,
                           notifier=Notifier(ctx.config, ctx.settings, ctx.clock, ctx.ledger))
    return json_response(rec.to_json(include_plan=False), 202)
