"""Blueprint: ``GET /api/incidents``, ``POST /api/incidents`` and ``POST /api/incidents/{id}/resolve``."""

from __future__ import annotations

import azure.functions as func

from functions._http import caller, handle, json_body, json_response
from shared.metrics.params import INCIDENT_PARAMS, IncidentOpening, ResolutionRequest

bp = func.Blueprint()


@bp.route(route="incidents", methods=["GET"])
@handle(query=INCIDENT_PARAMS)
def list_incidents(req: func.HttpRequest) -> func.HttpResponse:
    """Incidents newest first: ``environment``, ``state`` (open|resolved), ``kind``, ``since``, ``until``,
    ``limit``, ``continuation``; unknown parameters are 400."""
    from shared import app
    from shared.metrics.params import IncidentQuery

    ctx = app.current()
    query = IncidentQuery.parse(dict(req.params), list(ctx.config.environments))
    return json_response(query.answer(ctx))


@bp.route(route="incidents", methods=["POST"])
@handle(body=IncidentOpening.FIELDS)
def open_incident(req: func.HttpRequest) -> func.HttpResponse:
    """Record an incident or data-quality issue; 201 when new, 200 when the same one was recorded."""
    from shared import app

    ctx = app.current()
    who = caller(req)
    body = json_body(req)
    opening = IncidentOpening.parse(body, list(ctx.config.environments))
    incident, created = opening.open(ctx, actor=who)
    return json_response(incident.to_json(), 201 if created else 200)


@bp.route(route="incidents/{id}/resolve", methods=["POST"])
@handle(body=ResolutionRequest.FIELDS)
def resolve_incident(req: func.HttpRequest) -> func.HttpResponse:
    """Mark an incident resolved (at ``resolved_at``, default now); resolving twice changes nothing."""
    from shared import app

    ctx = app.current()
    who = caller(req)
    body = json_body(req, required=False)
    resolution = ResolutionRequest.parse(body)
    incident, _ = resolution.resolve(ctx, req.route_params.get("id", ""), actor=who)
    return json_response(incident.to_json())
