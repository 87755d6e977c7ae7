"""Receiving one webhook delivery: verify, parse, route, dedupe, record, queue (SPEC sections 1, 3, 6).

Order matters:

1. size (413) and signature/credentials (401) on the raw body, before parsing;
2. JSON (400, depth bounded before parsing) and the event type (unsupported: 202 ignored; a pull
   request's event goes to :func:`shared.branches.intake.receive_pull_request`);
3. the normalized push and its route (other branch, tag, deletion, other
   repository: 202 ignored, recorded as activity);
4. an atomic claim on the delivery id and its aliases (body digest, provider ids:
   a redelivery or a replay under a new id, even a concurrent one, finds it taken);
5. the deployment records (status ``queued``) *then* the queue messages, so a
   request is never lost; 202 once every message is durably queued.

Storage trouble is a 503 within the answer budget; the claim is released only when
nothing can have been queued, else a retry finishes the work with the same ids
(:mod:`shared.ingest.delivery`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import telemetry
from ..audit.ledger import AuditLedger
from ..audit.records import Activity
from ..clock import Clock
from ..config import PlatformConfig
from ..deploy.components import COMPONENTS, ComponentRegistry
from ..deploy.lifecycle import Opening, open_deployments
from ..errors import BadRequest, DataOpsError, NotFound, PayloadTooLarge, Unavailable
from ..settings import Settings
from ..storage import StorageAccount, deadline
from ..telemetry import STORAGE_REQUESTS, STORAGE_SECONDS
from ..validation import json_object
from .delivery import (
    CLAIM_SCOPE,
    WORK_SHARE,
    Attempt,
    DeliveryClaims,
    DeliveryPolicy,
    TrackingQueue,
    alias_keys,
    delete_unqueued_record,
)
from .push import Push
from .routing import route_push
from .webhook_sources import MAX_DELIVERY, SOURCES, WebhookSource, lower_headers

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
WEBHOOK_PARTITION = "_webhooks"  # activity partition of ignored deliveries (no environment applies)
__all__ = ["CLAIM_SCOPE", "MAX_BODY", "WEBHOOK_PARTITION", "Intake", "IntakeResult"]


@dataclass
class IntakeResult:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Intake:
    """Everything a delivery needs, passed in."""

    config: PlatformConfig
    storage: StorageAccount
    ledger: AuditLedger
    settings: Settings
    clock: Clock
    components: ComponentRegistry = COMPONENTS  # what a push can deploy
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    _started: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.policy == DeliveryPolicy():
            self.policy = DeliveryPolicy.from_settings(self.settings)

    def receive(self, source_name: str, headers: Mapping[str, str], body: bytes) -> IntakeResult:
        """Handle one delivery; raises DataOpsError (4xx/503) for what the caller must see as an error."""
        source = SOURCES.get(source_name)
        if source is None:
            raise NotFound(f"unknown webhook source {source_name!r}", code="unknown_source")
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {MAX_BODY}")
        h = lower_headers(headers)
        self._started = time.monotonic()
        with telemetry.span(f"dataops.webhook {source_name}", {"dataops.webhook.provider": source_name}) as span, \
                telemetry.summarised_calls() as calls, deadline(self.policy.budget_s * 0.95):
            try:
                return self._receive(source, source_name, h, body, span)
            finally:  # its storage calls, summed (they make no span of their own: docs/telemetry.md)
                span.set_attributes({STORAGE_REQUESTS: calls.requests, STORAGE_SECONDS: round(calls.seconds, 6)})

    def _receive(self, source: WebhookSource, source_name: str, h: Mapping[str, str], body: bytes,
                 span: Any) -> IntakeResult:
        source.verify(h, body, self.settings)
        payload = json_object(body)
        event = source.classify(h, payload)
        if event.kind == "ping":
            return IntakeResult(200, {"status": "pong", "provider": source_name})
        if event.kind == "ignored":
            delivery = h.get(source.delivery_header or "", "") or str(payload.get("id") or "")
            if len(delivery) > MAX_DELIVERY:  # kept only as a label: a long one is named by its digest
                delivery = ""
            self._record_ignored(source_name, delivery or _digest(body), event.reason[:2000], None)
            return IntakeResult(202, {"status": "ignored", "reason": event.reason})
        if event.kind == "pull_request" and source.parse_pull_request is not None:
            from ..branches.intake import receive_pull_request  # merged: remove its branch workspace

            return receive_pull_request(self, source.parse_pull_request(h, payload), body)
        push = source.parse(h, payload)
        span.set_attributes(telemetry.deployment_attributes(
            commit=push.after, ref=push.ref, repository=push.repository,
            provider=telemetry.PROVIDERS.get(push.provider, push.provider)))
        route = route_push(self.config, push, self.components)
        if self.config.databricks.branch_workspaces is not None:
            from ..branches.intake import BranchIntake

            answered = BranchIntake(self).receive(push, route, body)
            if answered is not None:
                return answered
        if route.ignored:
            self._record_ignored(source_name, push.delivery_id, route.ignored, push)
            return IntakeResult(202, {"status": "ignored", "reason": route.ignored,
                                      "delivery_id": push.delivery_id})
        return self._accept(push, [(t.environment, t.component) for t in route.targets], route.skipped,
                            body)

    # ----------------------------------------------------------------- accept
    def _accept(self, push: Push, targets: list[tuple[str, str]], skipped: tuple[str, ...],
                body: bytes, opening: Callable[[Push, str, str], Opening] | None = None) -> IntakeResult:
        """Claim, record, queue: exactly once, within the budget (see :mod:`shared.ingest.delivery`)."""
        from azure.core.exceptions import AzureError, HttpResponseError

        now = self.clock.now()
        policy = self.policy
        seed = f"{push.provider}:{push.delivery_id}"
        fresh = {f"{env}/{comp}": self.ledger.new_deployment_id(env, comp, seed, when=now) for env, comp in targets}
        dc = DeliveryClaims(self.storage, policy)
        attempt = Attempt(seed)
        queue = TrackingQueue(self.storage)
        ids = fresh
        try:
            with deadline(max(0.0, self._started + policy.budget_s * WORK_SHARE - time.monotonic())):
                dc.resolve(attempt, alias_keys(push.provider, body, push.provider_ids))
                outcome, ids = dc.claim(attempt, fresh)
                if outcome == "duplicate":
                    return IntakeResult(202, {"status": "duplicate", "delivery_id": push.delivery_id,
                                              "deployments": list(ids.values()),
                                              **({"replay_of": attempt.key} if attempt.replay_of else {})})
                trace_id = telemetry.current_trace_id()
                open_deployments(self.ledger, queue, [(opening or self._opening)(push, t, d) for t, d in ids.items()],
                                 when=now)
            dc.done(attempt, ids)
        except (AzureError, DataOpsError) as exc:
            if not queue.maybe_sent:
                dc.undo(attempt, ids, lambda did: delete_unqueued_record(self.storage, did))
            if isinstance(exc, HttpResponseError) and exc.status_code == 400:
                # Table storage refused a value: input we should have refused first. Still the caller's.
                raise BadRequest(f"the delivery cannot be stored: {exc.reason or exc.message}"[:500],
                                 code="not_storable") from exc
            if isinstance(exc, DataOpsError):
                raise
            raise Unavailable(f"storage is unreachable: {type(exc).__name__}") from exc
        status = "recovered" if attempt.takeover else "queued"
        return IntakeResult(202, {"status": status, "delivery_id": push.delivery_id,
                                  "deployments": list(ids.values()), "skipped": list(skipped),
                                  "trace_id": trace_id,
                                  **({"replay_of": attempt.key} if attempt.replay_of else {})})

    @staticmethod
    def _opening(push: Push, target: str, deployment_id: str) -> Opening:
        env, _, comp = target.partition("/")
        return Opening(environment=env, component=comp, commit=push.after, trigger="push", ref=push.ref,
                       repository=push.repository, actor=push.pusher, actor_verified=False,
                       actor_source=f"git:{push.provider}", commits=push.commits,
                       commit_time=push.head_time, delivery_id=push.delivery_id, deployment_id=deployment_id,
                       extra={"provider": push.provider, "before": push.before, "forced": push.forced})

    def _record_ignored(self, provider: str, delivery: str, reason: str, push: Push | None) -> None:
        from azure.core.exceptions import AzureError

        act = Activity(environment=WEBHOOK_PARTITION, kind="webhook_ignored", key=f"{provider}:{delivery}",
                       at=self.clock.now(), actor=push.pusher if push else None, status="ignored",
                       summary=reason[:2000],
                       data={"provider": provider, "delivery_id": delivery,
                             **({"ref": push.ref, "after": push.after,
                                 "repository": telemetry.scrub_url(push.repository)} if push else {})})
        try:
            self.ledger.record_activity(act)
        except AzureError as exc:
            raise Unavailable(f"audit storage is unreachable: {type(exc).__name__}") from exc


def _digest(body: bytes) -> str:
    return "sha256-" + hashlib.sha256(body).hexdigest()[:32]
