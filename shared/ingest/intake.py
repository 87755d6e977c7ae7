"""Receiving one webhook delivery: verify, parse, route, dedupe, record, queue (SPEC sections 1, 3, 6).

Order matters:

1. size (413) and signature/credentials (401) on the raw body, before parsing;
2. JSON (400) and the event type (unsupported: 202 ignored);
3. the normalized push and its route (other branch, tag, deletion, other
   repository: 202 ignored, recorded as activity);
4. an atomic claim on the delivery id (a redelivery, even a concurrent one,
   finds it taken and changes nothing);
5. the deployment records (status ``queued``) *then* the queue messages, so a
   request is never lost; 202 once every message is durably queued.

Storage trouble is a 503 (Azure DevOps retries on it); the claim is released
so the retry is not mistaken for a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import telemetry
from ..audit.ledger import AuditLedger
from ..audit.records import Activity
from ..claims import Claims
from ..clock import Clock
from ..config import PlatformConfig
from ..deploy.components import COMPONENTS, ComponentRegistry
from ..deploy.lifecycle import Opening, open_deployments
from ..deploy.queue import DeploymentQueue
from ..errors import DataOpsError, NotFound, PayloadTooLarge, Unavailable
from ..settings import Settings
from ..storage import StorageAccount
from ..validation import json_object
from .push import Push
from .routing import route_push
from .webhook_sources import MAX_DELIVERY, SOURCES, lower_headers

log = logging.getLogger(__name__)

MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
CLAIM_SCOPE = "webhook"
WEBHOOK_PARTITION = "_webhooks"  # activity partition of ignored deliveries (no environment applies)
# A redelivery later than this checks that the first receiver finished (it may have died).
STALE_CLAIM = timedelta(seconds=60)


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

    def receive(self, source_name: str, headers: Mapping[str, str], body: bytes) -> IntakeResult:
        """Handle one delivery; raises DataOpsError (4xx/503) for what the caller must see as an error."""
        source = SOURCES.get(source_name)
        if source is None:
            raise NotFound(f"unknown webhook source {source_name!r}", code="unknown_source")
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"body is {len(body)} bytes; the limit is {MAX_BODY}")
        h = lower_headers(headers)
        with telemetry.span(f"dataops.webhook {source_name}", {"dataops.webhook.provider": source_name}) as span:
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
            push = source.parse(h, payload)
            span.set_attributes(telemetry.deployment_attributes(
                commit=push.after, ref=push.ref, repository=push.repository,
                provider=telemetry.PROVIDERS.get(push.provider, push.provider)))
            route = route_push(self.config, push, self.components)
            if route.ignored:
                self._record_ignored(source_name, push.delivery_id, route.ignored, push)
                return IntakeResult(202, {"status": "ignored", "reason": route.ignored,
                                          "delivery_id": push.delivery_id})
            return self._accept(push, [(t.environment, t.component) for t in route.targets], route.skipped)

    # ----------------------------------------------------------------- accept
    def _accept(self, push: Push, targets: list[tuple[str, str]], skipped: tuple[str, ...]) -> IntakeResult:
        from azure.core.exceptions import AzureError

        now = self.clock.now()
        seed = f"{push.provider}:{push.delivery_id}"
        ids = {f"{env}/{comp}": self.ledger.new_deployment_id(env, comp, seed, when=now) for env, comp in targets}
        claims = Claims(self.storage)
        key = seed
        try:
            won, data = claims.claim(CLAIM_SCOPE, key, {"deployments": ids, "at": now.isoformat()}, at=now)
        except AzureError as exc:
            raise Unavailable(f"state storage is unreachable: {type(exc).__name__}") from exc
        if not won:
            if not _stale(data, now):
                return IntakeResult(202, {"status": "duplicate", "delivery_id": push.delivery_id,
                                          "deployments": list((data.get("deployments") or {}).values())})
            # Delivered again after a while: make sure the first receiver finished (it may have died
            # between the claim and the queue). Existing records are kept (a retried create is a
            # no-op) and only those still ``queued`` are sent again: a request sent twice is harmless,
            # the worker skips a deployment that ended or runs elsewhere (the lock).
            ids = dict(data.get("deployments") or ids)
        trace_id = telemetry.current_trace_id()
        openings = []
        for target, deployment_id in ids.items():
            env, _, comp = target.partition("/")
            openings.append(Opening(
                environment=env, component=comp, commit=push.after, trigger="push", ref=push.ref,
                repository=push.repository, actor=push.pusher, commits=push.commits, commit_time=push.head_time,
                delivery_id=push.delivery_id, deployment_id=deployment_id,
                extra={"provider": push.provider, "before": push.before, "forced": push.forced}))
        try:
            open_deployments(self.ledger, DeploymentQueue(self.storage), openings, when=now)
        except (AzureError, Unavailable) as exc:
            try:
                claims.release(CLAIM_SCOPE, key)  # so the provider's retry is not taken for a duplicate
            except Exception:
                log.warning("webhook %s: claim not released (stale after %s)", seed, STALE_CLAIM)
            if isinstance(exc, DataOpsError):
                raise
            raise Unavailable(f"storage is unreachable: {type(exc).__name__}") from exc
        return IntakeResult(202, {"status": "queued" if won else "recovered", "delivery_id": push.delivery_id,
                                  "deployments": list(ids.values()), "skipped": list(skipped),
                                  "trace_id": trace_id})

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


def _stale(data: dict[str, Any], now: datetime) -> bool:
    try:
        at = datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        return True
    return now - at > STALE_CLAIM
