"""Approvals: the gate that holds a deployment for a person, and the approve/reject decision.

A deployment waits (``waiting_approval``, its plan stored) when its environment
has ``approval: required`` or when its plan deletes anything in an environment
with ``protect_deletes: true`` (a one-way decision). A person approves (the
deployment goes back to the queue and passes this gate) or rejects it (it ends
``rejected``). One decision per deployment: a conditional-insert claim makes
two simultaneous approvers (or an approver racing a newer commit) safe. A newer
commit waiting for approval supersedes an older one of the same environment
and component.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from .. import telemetry
from ..audit.ledger import AuditLedger
from ..audit.records import Activity, DeploymentRecord
from ..claims import Claims
from ..config import PlatformConfig
from ..deploy.commits import MAX_SCANNED, people_of_change, range_incomplete
from ..deploy.lifecycle import AfterEnd, finish_deployment, request_for
from ..deploy.model import Plan
from ..deploy.orchestrator import Gate, GateInput, Hold
from ..deploy.queue import DeploymentQueue
from ..errors import BadRequest, Conflict, Forbidden, Unauthorized
from ..identity import Principal, as_principal, require_verified, self_approval_check
from .notify import Notifier
from .rollback import is_emergency

log = logging.getLogger(__name__)

DECISION_SCOPE = "release-decision"
MAX_LISTED_DELETES = 50


def deletes_summary(plan: Plan) -> str:
    """``3 objects: pipeline pl_a, notebook /x, ...`` (what a one-way plan would delete)."""
    names = [f"{a.object_type} {a.name}" for a in plan.deletes]
    shown = ", ".join(names[:MAX_LISTED_DELETES])
    more = f" and {len(names) - MAX_LISTED_DELETES} more" if len(names) > MAX_LISTED_DELETES else ""
    return f"{len(names)} object{'s' if len(names) != 1 else ''}: {shown}{more}"


def hold_reasons(g: GateInput) -> list[str]:
    """Why this deployment needs a person (empty: it does not). Pure."""
    rec, env = g.record, g.config.environments.get(g.record.environment)
    if env is None:
        return []
    reasons: list[str] = []
    # A rollback is a release like any other; only an explicit emergency (recorded, notified, by a
    # configured role or group) skips approval.
    if env.approval == "required" and not is_emergency(rec):
        reasons.append(f"environment {rec.environment} requires approval")
    if env.protect_deletes and g.plan.deletes:
        reasons.append(f"the plan deletes {deletes_summary(g.plan)} "
                       f"(environment {rec.environment} protects deletes)")
    return reasons


def approval_gate(notifier: Notifier | None = None) -> Gate:
    """The gate: hold for approval unless this deployment was approved; supersede older waiting ones."""

    def gate(g: GateInput) -> Hold | None:
        rec = g.record
        approval = rec.extra.get("approval") or {}
        if approval.get("decision") == "approved":
            return None
        reasons = hold_reasons(g)
        if not reasons:
            return None
        if rec.trigger != "rollback":
            newer = _supersede_older(g)
            if newer is not None:
                return Hold("superseded", f"{newer.commit[:12]} (deployment {newer.id}), which contains "
                                          f"{rec.commit[:12]}, already waits for approval")
        reason = "waiting for approval: " + "; ".join(reasons)
        if notifier is not None:
            notifier.notify(dataclasses.replace(rec, status="waiting_approval"), "waiting_approval", reason)
        return Hold("waiting_approval", reason)

    return gate


def _supersede_older(g: GateInput) -> DeploymentRecord | None:
    """End the waiting deployments our commit contains; return a waiting one whose commit contains ours.

    Superseding follows the commit graph, never queue time: an older commit (a manual deploy of an
    old SHA, a late delivery) never supersedes a newer one, and diverged commits supersede nothing.
    """
    ledger, rec = g.ledger, g.record
    if g.is_ancestor is None:
        return None
    page = ledger.list_deployments(rec.environment, component=rec.component, status="waiting_approval",
                                   limit=100)
    claims = Claims(ledger.storage)
    newer: DeploymentRecord | None = None
    for other in page.items:
        if other.id == rec.id or other.trigger == "rollback" or other.commit == rec.commit:
            continue
        if g.is_ancestor(rec.commit, other.commit):
            newer = newer or other
            continue
        if not g.is_ancestor(other.commit, rec.commit):
            continue  # diverged: neither contains the other
        won, _ = claims.claim(DECISION_SCOPE, other.id, {"decision": "superseded", "by": rec.id},
                              at=ledger.clock.now())
        if not won:
            continue  # a person decided it meanwhile
        finish_deployment(ledger, other, "superseded", hooks=g.after_end,
                          error=f"superseded by {rec.commit[:12]} (deployment {rec.id}), which contains it, "
                                "while waiting for approval",
                          extra={**other.extra, "superseded_by": rec.id})
    return newer


def decide(ledger: AuditLedger, queue: DeploymentQueue, config: PlatformConfig, deployment_id: str, *,
           approve: bool, actor: Principal | str | None, reason: str | None = None,
           after_end: Sequence[AfterEnd] = ()) -> DeploymentRecord:
    """Approve (back to the queue) or reject (ends ``rejected``) a deployment waiting for approval.

    Raises Unauthorized without an identity, NotFound for an unknown id, Conflict when the
    deployment is not waiting for approval or was decided meanwhile, Forbidden when the pusher
    approves their own change (as pusher, author or co-author of a commit it carries) or cannot be told
    apart from them (``people:``), and the environment does not allow it.

    ``actor`` is the caller's :class:`~shared.identity.Principal` (HTTP: App Service Authentication;
    CLI: the Azure sign-in); a plain string is taken as already verified (in-process callers).
    """
    approver, reason = _approver_and_reason(actor, reason)
    actor = approver.name[:200]
    rec = _waiting_for(ledger, config, deployment_id, approver if approve else None)
    now = ledger.clock.now()
    decision: dict[str, Any] = {"decision": "approved" if approve else "rejected", "by": actor,
                                "by_principal": approver.to_json(),
                                "reason": reason, "at": now.isoformat(),
                                "waiting_reason": rec.extra.get("waiting_reason")}
    if approve and (rec.commit_range or {}).get("self_approval"):  # a truncated first deployment
        decision["self_approval_checked"] = rec.commit_range["self_approval"]  # type: ignore[index]
    claims = Claims(ledger.storage)
    won, existing = claims.claim(DECISION_SCOPE, rec.id, decision, at=now)
    if not won:
        raise Conflict(f"deployment {rec.id} was already decided ({existing.get('decision')} by "
                       f"{existing.get('by')})", code="already_decided")
    try:
        final = _carry_out(ledger, queue, rec, decision, after_end)
    except Exception:
        # Nothing was decided: let a retry decide again.
        try:
            claims.release(DECISION_SCOPE, rec.id)
        except Exception:
            log.exception("decision claim of %s could not be released", rec.id)
        raise
    ledger.record_activity(Activity(
        environment=rec.environment, kind="approval", key=f"{rec.id}/{decision['decision']}", at=now,
        actor=actor, status=decision["decision"], deployment_id=rec.id,
        summary=f"{actor} {decision['decision']} {rec.component} {rec.commit[:12]} in {rec.environment}"
                + (f": {reason}" if reason else ""),
        data={"reason": reason, "pusher": rec.actor, "commit": rec.commit, "component": rec.component,
              "waiting_reason": rec.extra.get("waiting_reason")}))
    return final


def _approver_and_reason(actor: Principal | str | None, reason: Any) -> tuple[Principal, str | None]:
    """The verified caller and the cleaned reason, or the error saying what is missing."""
    approver = as_principal(actor)
    if approver is None:
        raise Unauthorized("an approval needs the caller's identity (App Service Authentication)",
                           code="identity_required")
    require_verified(approver, "approving or rejecting")
    if reason is not None and not isinstance(reason, str):
        raise BadRequest("'reason' must be a string", code="invalid_reason")
    return approver, (reason or "").strip()[:2000] or None


def _waiting_for(ledger: AuditLedger, config: PlatformConfig, deployment_id: str,
                 approver: Principal | None) -> DeploymentRecord:
    """The deployment, when it waits for approval and (``approver`` given) that person may approve it."""
    rec = ledger.get_deployment(deployment_id, with_plan=False)
    if rec.status != "waiting_approval":
        verb = "approve" if approver is not None else "reject"
        raise Conflict(f"deployment {rec.id} is {rec.status}, not waiting for approval: nothing to {verb}",
                       code="not_waiting_approval")
    env = config.environment(rec.environment)
    if approver is not None:
        if range_incomplete(rec.commit_range) and not env.allow_self_approval:
            why = (rec.commit_range or {}).get("error") or \
                f"it brings more than {MAX_SCANNED} commits since the deployed {(rec.commit_range or {}).get('base')}"
            raise Forbidden(f"cannot tell whether {approver.name} wrote this change: {why}; deploy it in smaller "
                            f"steps, or set allow_self_approval on {rec.environment}", code="unknown_identity")
        people = people_of_change(rec.actor, rec.commit, rec.commits, rec.commit_range)
        self_approval_check(config, approver, people, environment=rec.environment)
    return rec


def _carry_out(ledger: AuditLedger, queue: DeploymentQueue, rec: DeploymentRecord, decision: dict[str, Any],
               after_end: Sequence[AfterEnd]) -> DeploymentRecord:
    """Approved: back to ``queued`` with its request sent; rejected: ended ``rejected``."""
    extra = {**rec.extra, "approval": decision}
    if decision["decision"] == "approved":
        final = ledger.transition(rec.id, "queued", extra=extra)
        try:
            with telemetry.resumed(final.trace_id, f"dataops.approval {final.environment}"):
                queue.send(request_for(final))  # the prod run stays in the push's trace
        except Exception:
            # Not queued: it must keep waiting, or it would sit ``queued`` with no request.
            ledger.transition(rec.id, "waiting_approval", extra=rec.extra)
            raise
        return final
    reason = decision["reason"]
    text = f"rejected by {decision['by']}" + (f": {reason}" if reason else "")
    return finish_deployment(ledger, rec, "rejected", hooks=after_end, error=text, extra=extra)
