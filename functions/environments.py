"""Blueprint: environments (stop/start now, status, single ADF trigger toggles).

* ``POST /api/environments/{env}/start`` and ``/stop`` (``?dry_run=true``)
* ``GET /api/environments/{env}``
* ``POST /api/environments/{env}/verify`` (``?component=``): queue a verification (202, ``Location``)
* ``GET /api/environments/{env}/verify/{id}``: its status (202 until final, then 200 with the result)
* ``POST /api/environments/{env}/adf/triggers/{name}/start`` and ``/stop`` (``?dry_run=true``)

Body (optional): ``{"reason": "..."}``; the actor is App Service
Authentication's principal (401 without it; a body ``actor`` is ignored). A partial result answers
207 with every resource's outcome.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions._http import caller, handle, json_body, json_response

bp = func.Blueprint()


def _reason(body: dict[str, Any]) -> str | None:
    from shared.errors import BadRequest

    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string", code="invalid_reason")
    return reason.strip()[:500] or None


def _answer(result: Any) -> func.HttpResponse:
    return json_response(result.to_json(), 207 if result.status in ("partial", "failed") else 200)


def _toggle_environment(req: func.HttpRequest, action: str) -> func.HttpResponse:
    from shared import app
    from shared.schedules.service import environment_control, parse_flag

    who = caller(req)
    body = json_body(req, required=False)
    dry_run = parse_flag(req.params.get("dry_run"), "dry_run")
    control = environment_control(app.current(), req.route_params.get("env", ""))
    result = control.run(action, actor=who.name, reason=_reason(body), dry_run=dry_run,
                         trigger="manual")
    return _answer(result)


@bp.route(route="environments/{env}/start", methods=["POST"])
@handle(query={"dry_run"}, body={"reason"})
def start_environment(req: func.HttpRequest) -> func.HttpResponse:
    """Start the environment now: restore exactly what the last stop stopped."""
    return _toggle_environment(req, "start")


@bp.route(route="environments/{env}/stop", methods=["POST"])
@handle(query={"dry_run"}, body={"reason"})
def stop_environment(req: func.HttpRequest) -> func.HttpResponse:
    """Stop the environment now (triggers, interactive clusters, warehouses, job schedules)."""
    return _toggle_environment(req, "stop")


@bp.route(route="environments/{env}", methods=["GET"])
@handle
def environment_status(req: func.HttpRequest) -> func.HttpResponse:
    """What is running, what a stop is holding back, the schedule and the last deployments."""
    from shared import app
    from shared.schedules.service import environment_control

    return json_response(environment_control(app.current(), req.route_params.get("env", "")).status())


def _toggle_trigger(req: func.HttpRequest, action: str) -> func.HttpResponse:
    from shared import app
    from shared.schedules.service import environment_control, parse_flag

    who = caller(req)
    body = json_body(req, required=False)
    dry_run = parse_flag(req.params.get("dry_run"), "dry_run")
    control = environment_control(app.current(), req.route_params.get("env", ""))
    result = control.toggle_trigger(req.route_params.get("name", ""), action, actor=who.name,
                                    reason=_reason(body), dry_run=dry_run)
    return _answer(result)


@bp.route(route="environments/{env}/adf/triggers/{name}/start", methods=["POST"])
@handle(query={"dry_run"}, body={"reason"})
def start_trigger(req: func.HttpRequest) -> func.HttpResponse:
    """Start one ADF trigger."""
    return _toggle_trigger(req, "start")


@bp.route(route="environments/{env}/adf/triggers/{name}/stop", methods=["POST"])
@handle(query={"dry_run"}, body={"reason"})
def stop_trigger(req: func.HttpRequest) -> func.HttpResponse:
    """Stop one ADF trigger."""
    return _toggle_trigger(req, "stop")


@bp.route(route="environments/{env}/verify", methods=["POST"])
@handle(query={"component"})
def verify_environment(req: func.HttpRequest) -> func.HttpResponse:
    """Queue a run of the environment's verification checks (``?component=adf|notebooks``): 202 with
    ``Location`` (the status resource) and ``Retry-After``; checks may run longer than the front end's
    230-second request limit."""
    from shared import app
    from shared.verify import queued

    who = caller(req)
    json_body(req, required=False)
    ctx = app.current()
    activity = queued.request_verification(ctx, req.route_params.get("env", ""), req.params.get("component") or None,
                                           actor=who.name)
    location = f"{req.url.split('?', 1)[0].rstrip('/')}/{queued.public_id(activity)}"
    return json_response({**queued.to_json(activity), "location": location}, 202, _polling(ctx, location))


@bp.route(route="environments/{env}/verify/{id}", methods=["GET"])
@handle
def verification_status(req: func.HttpRequest) -> func.HttpResponse:
    """A queued verification: 202 (``Retry-After``) while it is queued or running, 200 with every check's
    result once it is final (``status`` passed or failed); 404 for an unknown id."""
    from shared import app
    from shared.verify import queued

    ctx = app.current()
    final, body = queued.status_of(ctx, req.route_params.get("env", ""), req.route_params.get("id", ""))
    if final:
        return json_response(body)
    return json_response(body, 202, _polling(ctx, req.url.split("?", 1)[0]))


def _polling(ctx: Any, location: str) -> dict[str, str]:
    from shared.verify.queued import retry_after

    return {"Location": location, "Retry-After": str(retry_after(ctx))}
