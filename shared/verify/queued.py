"""A verification asked for over HTTP: accepted at once, run by the queue worker, followed by its status.

App Service's front end cuts an HTTP request at 230 seconds (the function keeps running, the caller gets
a 502 and no result), and checks may run for up to 30 minutes. So ``POST /api/environments/{env}/verify``
is the asynchronous request-reply pattern:

1. :func:`request_verification` checks the request (404 unknown environment, 400 unknown component),
   records the verification (an activity of kind ``verification``, status ``queued``) and only then
   puts a :class:`VerificationRequest` on the deployment queue; the route answers ``202 Accepted`` with
   ``Location`` (the status resource) and ``Retry-After``;
2. the queue worker runs it (:func:`run_requested`): ``running`` (with the attempt), the checks, then the
   final status ``passed`` or ``failed`` with every check's result, in the same record. A worker that dies
   mid-way leaves the message to reappear after its lease, and the next worker runs the verification again
   (the Databricks starts carry idempotency tokens of the verification, so a retried start returns the run
   the first one started); after ``maxDequeueCount`` deliveries the poison handler ends it ``failed``
   (:func:`record_poisoned`), so every accepted verification ends with a final status;
3. ``GET /api/environments/{env}/verify/{id}`` (:func:`status_of`) answers 202 while it is queued or
   running and 200 with the result once it is final.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .. import telemetry
from ..audit.records import Activity
from ..errors import DataOpsError, NotFound, Unavailable

if TYPE_CHECKING:
    from ..app import AppContext
    from .runner import Verifier

log = logging.getLogger(__name__)

KIND = "verification"  # the queue message's kind and the activity's kind
SCHEMA = 1
QUEUED, RUNNING, PASSED, FAILED = "queued", "running", "passed", "failed"
FINAL = frozenset({PASSED, FAILED})
MAX_RETRY_AFTER = 30  # seconds: a poller looks at least this often
_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,99}$")


@dataclass(frozen=True)
class VerificationRequest:
    """The queue message that asks a worker to run one recorded verification."""

    activity_id: str
    environment: str
    component: str | None = None
    trace: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps({"schema": SCHEMA, "kind": KIND, "activity_id": self.activity_id,
                           "environment": self.environment, "component": self.component, "trace": self.trace},
                          separators=(",", ":")).encode()


def parse_request(raw: bytes | str) -> VerificationRequest | None:
    """The verification a queue message asks for, or None when the message is something else."""
    try:
        d = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not (isinstance(d, dict) and d.get("kind") == KIND and d.get("schema") == SCHEMA
            and isinstance(d.get("activity_id"), str) and isinstance(d.get("environment"), str)):
        return None
    trace: dict[str, Any] = d["trace"] if isinstance(d.get("trace"), dict) else {}
    component = d.get("component") if isinstance(d.get("component"), str) else None
    return VerificationRequest(d["activity_id"], d["environment"], component,
                               {str(k): str(v) for k, v in trace.items()})


def public_id(activity: Activity) -> str:
    """The id in the status URL: the activity's row in its environment's partition."""
    return activity.id.partition("~")[2]


def retry_after(app: AppContext) -> int:
    """Seconds a poller should wait: the checks' own poll interval, at least 1 and at most 30."""
    return max(1, min(MAX_RETRY_AFTER, math.ceil(app.config.verification.poll_interval)))


def request_verification(app: AppContext, environment: str, component: str | None = None, *,
                         actor: str | None = None) -> Activity:
    """Record a verification as ``queued`` and queue its run; returns the record.

    Refuses before recording anything: an unknown environment (404) or component (400). When the queue
    cannot be reached the record is ended ``failed`` (nothing would ever run it) and Unavailable raised.
    """
    from .runner import checks_for

    env = app.config.environment(environment)  # 404 for an unknown environment
    if component is not None:
        app.components.get(component)  # 400 for an unknown component
    run_id = uuid.uuid4().hex[:12]
    now = app.clock.now()
    what = f"verification of {environment}" + (f" ({component})" if component else "")
    activity, _ = app.ledger.record_activity(Activity(
        environment=environment, kind=KIND, key=f"verify/{run_id}", at=now, actor=actor, status=QUEUED,
        summary=f"{what}: queued",
        data={"run_id": run_id, "component": component, "queued_at": _iso(now), "attempts": 0,
              "checks": [c.name for c in checks_for(env, component)]}))
    request = VerificationRequest(activity.id, environment, component, telemetry.inject_context())
    from azure.core.exceptions import AzureError

    try:
        app.storage.queue(app.storage.names.deploy_queue).send_message(request.to_bytes())
    except AzureError as exc:
        _finish(app, activity, FAILED, error=f"the verification could not be queued: {type(exc).__name__}")
        raise Unavailable(f"deployment queue is unreachable: {type(exc).__name__}") from exc
    return activity


def run_requested(app: AppContext, request: VerificationRequest, *, attempt: int = 1,
                  verifier: Verifier | None = None) -> Activity | None:
    """Run a queued verification (the queue worker); a final one is left as it is (a redelivery)."""
    from .service import run_checks

    try:
        activity = app.ledger.get_activity(request.activity_id)
    except NotFound:
        log.error("verification request for %s: no such record (dropped)", request.activity_id)
        return None
    if activity.kind != KIND or activity.status in FINAL:
        return activity
    data = {**activity.data, "started_at": _iso(app.clock.now()), "attempts": attempt}
    if activity.status == RUNNING:  # a worker died while running it: this is a retry
        data["restarted"] = int(activity.data.get("restarted") or 0) + 1
    activity = replace(activity, status=RUNNING, data=data,
                       summary=f"{_what(activity)}: running (attempt {attempt})")
    app.ledger.update_activity(activity)
    run_id = str(data.get("run_id") or public_id(activity))
    with telemetry.attached_context(request.trace), telemetry.span(
            "dataops.verify.run", {telemetry.ENVIRONMENT: request.environment, "dataops.verify.id": run_id,
                                   "dataops.verify.attempt": attempt}):
        try:
            v = run_checks(app, request.environment, request.component, run_id=run_id, verifier=verifier)
        except Unavailable:
            raise  # storage or a service out of reach: the queue delivers it again
        except DataOpsError as err:  # e.g. the environment left the configuration: trying again cannot help
            return _finish(app, activity, FAILED, error=err.message)
    return _finish(app, activity, PASSED if v.passed else FAILED, result=v.to_json(), summary=v.summary())


def record_poisoned(app: AppContext, raw: bytes | str, reason: str) -> str | None:
    """A verification request that failed ``maxDequeueCount`` times ends ``failed`` with the reason."""
    request = parse_request(raw)
    if request is None:
        return None
    try:
        activity = app.ledger.get_activity(request.activity_id)
    except NotFound:
        return None
    if activity.kind == KIND and activity.status not in FINAL:
        _finish(app, activity, FAILED, error=reason)
    return activity.id


def status_of(app: AppContext, environment: str, verification_id: str) -> tuple[bool, dict[str, Any]]:
    """``(final, body)`` of the verification ``verification_id`` of ``environment`` (404 when there is none)."""
    app.config.environment(environment)  # 404 for an unknown environment
    if not _ID.match(verification_id or ""):
        raise NotFound(f"verification {verification_id!r} not found", code="unknown_verification")
    try:
        activity = app.ledger.get_activity(f"{environment}~{verification_id}")
    except NotFound:
        raise NotFound(f"verification {verification_id!r} not found", code="unknown_verification") from None
    if activity.kind != KIND:
        raise NotFound(f"verification {verification_id!r} not found", code="unknown_verification")
    return activity.status in FINAL, to_json(activity)


def to_json(activity: Activity) -> dict[str, Any]:
    """A verification as its status resource shows it (with the result once it is final)."""
    d = activity.data
    result = d.get("result") or {}
    body: dict[str, Any] = {
        "id": public_id(activity), "environment": activity.environment, "component": d.get("component"),
        "status": activity.status, "actor": activity.actor, "queued_at": d.get("queued_at"),
        "started_at": d.get("started_at"), "ended_at": d.get("ended_at"), "attempts": d.get("attempts", 0)}
    if activity.status in FINAL:
        body["summary"] = result.get("summary") or activity.summary
        body["checks"] = result.get("checks", [])
        if d.get("error"):
            body["error"] = d["error"]
    else:
        body["checks_planned"] = d.get("checks", [])
    return body


def _finish(app: AppContext, activity: Activity, status: str, *, result: dict[str, Any] | None = None,
            summary: str | None = None, error: str | None = None) -> Activity:
    data = {**activity.data, "ended_at": _iso(app.clock.now())}
    if result is not None:
        data["result"] = result
    if error:
        data["error"] = error
    final = replace(activity, status=status, data=data,
                    summary=f"{_what(activity)}: {summary or error or status}")
    app.ledger.update_activity(final)
    log.info("verification %s of %s: %s", public_id(final), final.environment, status)
    return final


def _what(activity: Activity) -> str:
    component = activity.data.get("component")
    return f"verification of {activity.environment}" + (f" ({component})" if component else "")


def _iso(when: Any) -> str:
    return str(when.isoformat()).replace("+00:00", "Z")
