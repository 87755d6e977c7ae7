"""Rollback: redeploy the last good commit before a deployment, by request or after a failure.

A rollback is a new deployment (trigger ``rollback``, ``rollback_of`` = the
deployment it undoes) so it is planned, recorded and counted as rework like any
other. It is never superseded by the newer commit it replaces. Automatic
rollback (``on_failure: rollback``) happens once per failed deployment, only when
the failed deployment changed something, and never for a rollback (no loops).
When a rollback succeeds, the deployment it undid is marked: a ``succeeded`` one
becomes ``rolled_back`` (a change failure in the metrics), a ``failed`` one keeps
its status; both get ``extra.rolled_back_by``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from ..audit.ledger import AuditLedger
from ..audit.records import Activity, DeploymentRecord
from ..claims import Claims
from ..config import PlatformConfig
from ..deploy.lifecycle import AfterEnd
from ..deploy.orchestrator import rollback_target, submit
from ..deploy.queue import DeploymentQueue
from ..errors import BadRequest, Conflict, DataOpsError, Forbidden, Unauthorized
from ..identity import SYSTEM_PREFIX, Principal, as_principal
from ..metrics.rollup import record_deployment
from .notify import Notifier

log = logging.getLogger(__name__)

SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
AUTO_ACTOR = "dataops:auto-rollback"


def is_emergency(rec: DeploymentRecord) -> bool:
    """An emergency rollback: recorded with who and why, it passes approval and windows."""
    return rec.trigger == "rollback" and bool(rec.extra.get("emergency"))


def _emergency(config: PlatformConfig, actor: Principal | str | None, reason: str | None) -> dict[str, str]:
    """Check an emergency request: a reason, and a verified caller with a configured role or group."""
    if not reason or not reason.strip():
        raise BadRequest("an emergency rollback needs a reason (recorded and notified)", code="reason_required")
    who = as_principal(actor)
    if who is None or not who.verified:
        raise Unauthorized("an emergency rollback needs a verified identity", code="identity_required")
    roles = config.security.emergency_roles
    if not roles:
        raise Forbidden("no emergency roles are configured (security.emergency_roles): a rollback waits for "
                        "approval and windows like any release", code="emergency_not_configured")
    if not who.has_any(roles):
        raise Forbidden(f"{who.name} has none of the emergency roles or groups ({', '.join(roles)})",
                        code="not_emergency_role")
    return {"by": who.name, "reason": reason.strip()[:2000]}


def request_rollback(ledger: AuditLedger, queue: DeploymentQueue | None, config: PlatformConfig, deployment_id: str, *,
                     actor: Principal | str | None, to: str | None = None, reason: str | None = None,
                     force: bool = False, automatic: bool = False, emergency: bool = False,
                     notifier: Notifier | None = None) -> DeploymentRecord:
    """Queue a rollback of ``deployment_id`` to ``to`` (a SHA) or to the last success before it.

    ``queue=None`` records it without queueing (the CLI runs it in-process, through the same checks).

    A rollback is a release: it passes approval and windows unless ``emergency`` (a reason and a
    caller holding one of ``security.emergency_roles``; recorded and notified as such). ``to`` must
    be a commit that succeeded in that environment before.

    Raises NotFound (unknown deployment), BadRequest (``to`` is not a SHA, or never succeeded there;
    an emergency without a reason), Conflict (the deployment has not ended yet, or there is no
    earlier successful deployment to go back to), Forbidden (emergency without the role).
    Nothing is recorded when it raises.
    """
    who = _rollback_actor(actor, automatic)
    actor_name = who.name if who else None
    rec = ledger.get_deployment(deployment_id, with_plan=False)
    config.environment(rec.environment)  # an environment no longer configured: 404
    if to is not None and (not isinstance(to, str) or not SHA.match(to.strip())):
        raise BadRequest(f"'to' must be a commit SHA (7 to 40 hex digits), got {to!r}", code="invalid_sha")
    if not rec.final:
        raise Conflict(f"deployment {rec.id} is {rec.status}; only an ended deployment can be rolled back",
                       code="not_final")
    target = _rollback_target(ledger, rec, to)
    commit = target.commit
    urgent = _emergency(config, actor, reason) if emergency else None
    info = {"to_deployment": target.id, "from_commit": rec.commit, "reason": reason,
            "automatic": automatic}
    now = ledger.clock.now()
    new = submit(ledger, queue, environment=rec.environment, component=rec.component, commit=commit,
                 ref=target.ref, repository=rec.repository, trigger="rollback",
                 actor=actor_name, actor_verified=who.verified if who else None,
                 actor_source=who.source if who else None,
                 seed=f"rollback:{rec.id}:{commit}:{now.isoformat()}", force=force,
                 rollback_of=rec.id, extra={"rollback": info, **({"emergency": urgent} if urgent else {})})
    _record_requested(ledger, rec, new, actor_name, now, info, urgent, notifier)
    return new


def _rollback_actor(actor: Principal | str | None, automatic: bool) -> Principal | None:
    """Who rolls back: a verified person (like an approval), or the app itself (automatic)."""
    who = as_principal(actor)
    if who is not None and (automatic or who.name.startswith(SYSTEM_PREFIX)):
        return Principal(who.name, True, "system")
    if who is None or not who.verified:
        raise Unauthorized("a rollback needs a verified identity (App Service Authentication, or the Azure "
                           "sign-in for the CLI)", code="identity_required")
    return who


def _rollback_target(ledger: AuditLedger, rec: DeploymentRecord, to: str | None) -> DeploymentRecord:
    """The successful deployment to go back to: of ``to`` when given, else the last one before ``rec``."""
    if to is None:
        target = rollback_target(ledger, rec.environment, rec.component, before=rec)
        if target is None:
            raise Conflict(f"no successful {rec.component} deployment in {rec.environment} before {rec.id} "
                           "to roll back to (pass 'to' with a commit SHA)", code="no_rollback_target")
        return target
    commit = to.strip().lower()
    if rec.commit.startswith(commit):
        raise Conflict(f"{commit} is the commit of deployment {rec.id} itself", code="same_commit")
    found = _succeeded_with(ledger, rec.environment, rec.component, commit)
    if found is None:
        raise BadRequest(f"{commit} never succeeded as a {rec.component} deployment in {rec.environment}: "
                         "a rollback goes back to a commit that ran there", code="not_deployed_here")
    return found


def _record_requested(ledger: AuditLedger, rec: DeploymentRecord, new: DeploymentRecord, actor_name: str | None,
                      now: datetime, info: dict[str, Any], urgent: dict[str, str] | None,
                      notifier: Notifier | None) -> None:
    """The rollback's activity (and, for an emergency, its own activity and notification)."""
    commit, reason, automatic = new.commit, info["reason"], info["automatic"]
    if urgent:
        ledger.record_activity(Activity(
            environment=rec.environment, kind="emergency", key=new.id, at=now, actor=actor_name,
            status="emergency", deployment_id=new.id,
            summary=f"EMERGENCY rollback of {rec.id} to {commit[:12]} by {urgent['by']}: {urgent['reason']}",
            data={"rollback_of": rec.id, "to_commit": commit, **urgent}))
        if notifier is not None:
            notifier.notify(new, "emergency", urgent["reason"])
    ledger.record_activity(Activity(
        environment=rec.environment, kind="rollback", key=f"{new.id}", at=now, actor=actor_name,
        status="queued", deployment_id=new.id,
        summary=f"{'automatic ' if automatic else ''}rollback of {rec.id} ({rec.commit[:12]}) to {commit[:12]}"
                + (f": {reason}" if reason else ""),
        data={"rollback_of": rec.id, **info, "to_commit": commit}))


def _succeeded_with(ledger: AuditLedger, environment: str, component: str, commit: str) -> DeploymentRecord | None:
    """A deployment of ``commit`` (a SHA or its prefix) that succeeded in ``environment`` (or was since
    rolled back: it ran there)."""
    for status in ("succeeded", "rolled_back"):
        page = ledger.list_deployments(environment, component=component, status=status, commit=commit, limit=5)
        for r in page.items:
            if r.commit.startswith(commit) and r.trigger != "branch":  # branch syncs went to their own folders
                return r
    return None


def _changed_something(ledger: AuditLedger, rec: DeploymentRecord) -> bool:
    """A deployment that failed before its apply step left the target as it was: nothing to undo."""
    return any(s.get("name") == "apply" for s in ledger.steps(rec.id))


def auto_rollback_hook(config: PlatformConfig, ledger: AuditLedger, queue: DeploymentQueue) -> AfterEnd:
    """After a failed deployment in an environment with ``on_failure: rollback``: roll back, once."""
    claims = Claims(ledger.storage)

    def hook(rec: DeploymentRecord) -> None:
        env = config.environments.get(rec.environment)
        if env is None or env.on_failure != "rollback" or rec.status != "failed" or rec.trigger == "rollback":
            return
        if not _changed_something(ledger, rec):
            log.info("deployment %s failed before changing anything: no automatic rollback", rec.id)
            return
        won, _ = claims.claim("auto-rollback", rec.id, {"at": ledger.clock.now().isoformat()})
        if not won:
            return
        try:
            new = request_rollback(ledger, queue, config, rec.id, actor=AUTO_ACTOR,
                                   reason=f"automatic: {rec.id} failed", automatic=True)
        except Conflict as err:
            ledger.record_activity(Activity(
                environment=rec.environment, kind="rollback", key=f"auto/{rec.id}", at=ledger.clock.now(),
                actor=AUTO_ACTOR, status="skipped", deployment_id=rec.id,
                summary=f"no automatic rollback of {rec.id}: {err.message}"))
            return
        except DataOpsError:
            claims.release("auto-rollback", rec.id)  # let a later look try again
            raise
        log.warning("deployment %s failed: rollback %s queued", rec.id, new.id)

    return hook


def mark_rolled_back_hook(ledger: AuditLedger, notifier: Notifier | None = None) -> AfterEnd:
    """When a rollback succeeds, note it on the deployment it undid (``rolled_back`` if that succeeded)."""

    def hook(rec: DeploymentRecord) -> None:
        if rec.trigger != "rollback" or rec.status != "succeeded" or not rec.rollback_of:
            return
        undone = ledger.get_deployment(rec.rollback_of, with_plan=False)
        changes: dict[str, object] = {"extra": {**undone.extra, "rolled_back_by": rec.id}}
        if undone.status == "succeeded":
            changes["status"] = "rolled_back"
        marked = ledger.update_deployment(undone.id, allow_final=True, **changes)
        record_deployment(ledger, marked)  # the metrics rollup counts it as rolled back from now on
        if notifier is not None and marked.status == "rolled_back":
            notifier.notify(marked, "rolled_back", f"rolled back by {rec.id} to {rec.commit[:12]}")

    return hook
