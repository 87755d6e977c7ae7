"""One deployment lifecycle: every deployment is opened by :func:`open_deployments` and ended by
:func:`finish_deployment`, whoever asks for it.

Opening (webhook, promotion, rollback, the HTTP routes, the CLI): the record is
built in one place, so every path stores the repository URL without
credentials, the actor with how it was established, the commits the deployment
carries (their authors count for self-approval), and queues its request only
once the record is durable (a request is never lost; a record whose request
could not be sent stays ``queued`` and is sent again by a retry).

Finishing (success, failure, reject, supersede, poison, crash recovery): the
error text is redacted, the final status is written, the metrics rollup and the
after-end hooks (notifications, promotion, automatic rollback) run. A failing
hook is logged and never undoes the recorded outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import telemetry
from ..audit.records import FINAL_STATUSES, CommitInfo, DeploymentRecord
from .request import DeploymentRequest

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from .queue import DeploymentQueue

log = logging.getLogger(__name__)

MAX_ERROR = 4000

AfterEnd = Callable[[DeploymentRecord], None]


@dataclass(frozen=True)
class Opening:
    """What asks for a deployment: everything its record starts with."""

    environment: str
    component: str
    commit: str
    trigger: str  # push | promotion | manual | rollback
    ref: str = ""
    repository: str = ""
    actor: str | None = None
    actor_verified: bool | None = None  # see DeploymentRecord.actor_source
    actor_source: str | None = None
    commits: Sequence[CommitInfo] = ()
    commit_time: datetime | None = None
    delivery_id: str | None = None
    force: bool = False
    rollback_of: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    seed: str | None = None  # idempotency: the same seed (and time) is the same deployment id
    deployment_id: str | None = None  # when the caller fixed the id beforehand (webhook claims)


@dataclass(frozen=True)
class Opened:
    record: DeploymentRecord
    created: bool  # False: the record existed (a retry); it was re-queued only if still ``queued``
    queued: bool


def deployment_id_for(ledger: AuditLedger, opening: Opening, when: datetime | None = None) -> str:
    if opening.deployment_id:
        return opening.deployment_id
    now = when or ledger.clock.now()
    seed = opening.seed or f"{opening.trigger}:{opening.commit}:{now.isoformat()}"
    return ledger.new_deployment_id(opening.environment, opening.component, seed, when=now)


def record_for(ledger: AuditLedger, opening: Opening, *, when: datetime | None = None,
               trace_id: str | None = None) -> DeploymentRecord:
    """The ``queued`` record of an opening (pure but for the id's clock)."""
    now = when or ledger.clock.now()
    return DeploymentRecord(
        id=deployment_id_for(ledger, opening, now), environment=opening.environment,
        component=opening.component, commit=opening.commit, ref=opening.ref,
        repository=telemetry.scrub_url(opening.repository or ""), actor=opening.actor,
        actor_verified=opening.actor_verified, actor_source=opening.actor_source, trigger=opening.trigger, status="queued", queued_at=now, commit_time=opening.commit_time,
        commits=list(opening.commits), trace_id=trace_id, delivery_id=opening.delivery_id,
        rollback_of=opening.rollback_of, forced=opening.force, extra=dict(opening.extra))


def request_for(rec: DeploymentRecord, trace: Mapping[str, str] | None = None) -> DeploymentRequest:
    """The queue message that asks a worker to run ``rec``."""
    carrier = dict(trace) if trace is not None else telemetry.inject_context()
    return DeploymentRequest(rec.id, rec.environment, rec.component, rec.commit, rec.ref, rec.trigger,
                             carrier, rec.forced)


def open_deployments(ledger: AuditLedger, queue: DeploymentQueue | None, openings: Iterable[Opening], *,
                     when: datetime | None = None) -> list[Opened]:
    """Record every opening (``queued``), then queue the request of each record still ``queued``.

    All records are written before any message, so a failure half-way leaves only records that a
    retry (same ids) finds and queues. ``queue=None`` records without queueing: the caller runs the
    deployment itself (the CLI) and the orchestrator re-queues it if the lock is taken.
    Storage errors propagate (the caller answers 503 / retries).
    """
    now = when or ledger.clock.now()
    trace_id = telemetry.current_trace_id()
    stored: list[tuple[DeploymentRecord, bool]] = []
    for opening in openings:
        rec, created = ledger.create_deployment(record_for(ledger, opening, when=now, trace_id=trace_id))
        stored.append((rec, created))
    carrier = telemetry.inject_context()
    out: list[Opened] = []
    for rec, created in stored:
        send = queue is not None and rec.status == "queued"
        if send:
            assert queue is not None
            queue.send(request_for(rec, carrier))
        out.append(Opened(rec, created, send))
    return out


def open_deployment(ledger: AuditLedger, queue: DeploymentQueue | None, opening: Opening, *,
                    when: datetime | None = None) -> DeploymentRecord:
    """:func:`open_deployments` for one opening; returns its record."""
    return open_deployments(ledger, queue, [opening], when=when)[0].record


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return telemetry.redact(value, [])
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def finish_deployment(ledger: AuditLedger, deployment: DeploymentRecord | str, status: str, *,
                      hooks: Sequence[AfterEnd] = (), secrets: Sequence[str | None] = (),
                      **changes: Any) -> DeploymentRecord:
    """End a deployment in a final ``status``: redact, record, roll up, run the after-end hooks.

    Raises Conflict (``deployment_final``) when it already ended (nothing is run twice).
    """
    if status not in FINAL_STATUSES:
        raise ValueError(f"{status!r} is not a final status")
    did = deployment if isinstance(deployment, str) else deployment.id
    changes = {k: v for k, v in changes.items() if v is not None}
    if "error" in changes:
        changes["error"] = telemetry.redact(str(changes["error"]), list(secrets))[:MAX_ERROR]
    if "error_details" in changes:
        changes["error_details"] = _redacted(changes["error_details"])
    final = ledger.transition(did, status, **changes)
    telemetry.run_ended(did, status, final.error)
    from ..metrics.rollup import record_deployment

    record_deployment(ledger, final)
    for hook in hooks:
        try:
            hook(final)
        except Exception:
            log.exception("after-end hook %r failed for %s", hook, did)
    return final
