"""Blueprint: environments (stop/start now, status, single ADF trigger toggles).

* ``POST /api/environments/{env}/start`` and ``/stop`` (``?dry_run=true``)
* ``GET /api/environments/{env}``
* ``POST /api/environments/{env}/verify`` (``?component=``): run the verification checks now
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
    """Run the environment's verification checks now (``?component=adf|notebooks``); 200 with every
    check's result, ``status`` passed or failed."""
    from shared import app
    from shared.verify.service import verify_environment as run

    who = caller(req)
    json_body(req, required=False)
    ctx = app.current()
    result = run(ctx, req.route_params.get("env", ""), req.params.get("component") or None, actor=who.name)
    return json_response(result.to_json())
