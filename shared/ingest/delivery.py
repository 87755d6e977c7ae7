"""Exactly-once webhook intake under storage faults, and replay detection (issue 16, items 5 and 8).

A delivery is acknowledged (202) only once every deployment it asks for is
recorded *and* its request is on the queue. The claim on the delivery id
carries the state of that work, so whoever sees it knows what is left:

``pending``
    a receiver is on it (or failed or died half-way). The deployment ids are in
    the claim: a retry never makes a second record. A retry that finds a claim
    younger than the answer budget waits for it (polling) and answers with what
    the first receiver achieved, or 503 when it is still undecided; an older one
    is taken over (records created if missing, requests sent for those still
    ``queued``: a request sent twice is harmless, the worker skips a deployment
    that ended or runs elsewhere).
``queued``
    everything is durable: a redelivery is a ``duplicate``.

On a failure the claim is released (with the records this attempt created)
when, and only when, no request can have reached the queue; otherwise it stays
``pending`` for the retry to finish. Records whose request was never sent and
that nobody retries are re-queued or ended by :mod:`.sweeper`.

Every storage call runs under the answer budget (:func:`shared.storage.deadline`,
default 8 s, ``DATAOPS_WEBHOOK_BUDGET_S``): three quarters for the work, the
rest for the clean-up, so a hanging storage account is a 503 in time, not a
78-second wait that the provider has long given up on.

Replay: a signed body replayed under a new delivery id is the same delivery.
Besides the delivery id, each delivery claims *aliases*: the digest of its body
and the provider's own ids (the Azure DevOps push id, GitLab's idempotency key).
An alias already claimed by another delivery within the replay window
(``DATAOPS_WEBHOOK_REPLAY_WINDOW_S``, default 72 h: GitHub redelivers for 3 days)
makes this one that delivery.

Claim liveness is measured in wall-clock seconds (``t``), like a lease, not on
the injected clock (which dates the records).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..claims import Claims
from ..deploy.queue import DeploymentQueue
from ..deploy.request import DeploymentRequest
from ..errors import Unavailable
from ..settings import Settings
from ..storage import BudgetSpent, StorageAccount, sdk_options, time_left

log = logging.getLogger(__name__)

CLAIM_SCOPE = "webhook"
ALIAS_SCOPE = "webhook-alias"
DEFAULT_BUDGET_S = 8.0
DEFAULT_REPLAY_WINDOW_S = 72 * 3600.0
WORK_SHARE = 0.75  # of the budget; the rest is kept for releasing a failed attempt


def _float_setting(settings: Settings, name: str, default: float, low: float, high: float) -> float:
    raw = settings.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, raw, default)
        return default
    return min(max(value, low), high)


@dataclass(frozen=True)
class DeliveryPolicy:
    budget_s: float = DEFAULT_BUDGET_S
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S
    poll_s: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(_float_setting(settings, "DATAOPS_WEBHOOK_BUDGET_S", DEFAULT_BUDGET_S, 0.5, 230.0),
                   _float_setting(settings, "DATAOPS_WEBHOOK_REPLAY_WINDOW_S", DEFAULT_REPLAY_WINDOW_S,
                                  0.0, 30 * 86400.0))

    @property
    def takeover_after_s(self) -> float:
        """A pending claim older than this was abandoned: its receiver's budget is over."""
        return self.budget_s


class TrackingQueue(DeploymentQueue):
    """The deployment queue, sending each message exactly as often as needed and knowing whether any
    send may have reached the queue (a request answered, or one that failed after it was sent)."""

    def __init__(self, storage: StorageAccount, backoff_s: float = 0.05) -> None:
        super().__init__(storage)
        self.backoff_s = backoff_s
        self.sent = 0
        self.ambiguous = False

    @property
    def maybe_sent(self) -> bool:
        return self.sent > 0 or self.ambiguous

    def send(self, request: DeploymentRequest, *, delay_seconds: int = 0) -> str:
        from azure.core.exceptions import AzureError, ServiceRequestError

        while True:
            try:
                # One attempt per call (no SDK retries): each failure is classified exactly.
                msg = self.storage.queue(self.name).send_message(request.to_bytes(), retry_total=0,
                                                                  **sdk_options())
            except AzureError as exc:
                if not isinstance(exc, ServiceRequestError):
                    self.ambiguous = True  # sent, but the answer was lost: it may be on the queue
                left = time_left()
                if left is None or left <= self.backoff_s:
                    raise Unavailable(f"deployment queue is unreachable: {type(exc).__name__}") from exc
                time.sleep(self.backoff_s)
                continue
            self.sent += 1
            return str(msg.id)


@dataclass
class Attempt:
    """One receiver's work on one delivery: what it claimed, so a failure can be undone exactly."""

    key: str
    won: bool = False  # this attempt created the claim (so it may release it)
    aliases_won: list[str] = field(default_factory=list)
    replay_of: str | None = None
    takeover: bool = False


def alias_keys(provider: str, body: bytes, provider_ids: tuple[str, ...]) -> list[str]:
    """The other names of a delivery: its body digest, then the provider's own ids."""
    return [f"{provider}:body:{hashlib.sha256(body).hexdigest()}",
            *(f"{provider}:id:{pid}" for pid in provider_ids)]


class DeliveryClaims:
    """The claim state machine of :mod:`shared.ingest.delivery` (one per delivery)."""

    def __init__(self, storage: StorageAccount, policy: DeliveryPolicy) -> None:
        self.storage = storage
        self.claims = Claims(storage)
        self.policy = policy

    # ------------------------------------------------------------------ replay
    def resolve(self, attempt: Attempt, aliases: list[str]) -> None:
        """Claim the aliases; when one belongs to another delivery within the window, become that one."""
        now = time.time()
        for alias in aliases:
            won, data = self.claims.claim(ALIAS_SCOPE, alias, {"key": attempt.key, "t": now})
            if won:
                attempt.aliases_won.append(alias)
                continue
            owner = str(data.get("key") or "")
            if owner == attempt.key or not owner:
                continue
            if now - float(data.get("t") or 0) > self.policy.replay_window_s:
                self.claims.put(ALIAS_SCOPE, alias, {"key": attempt.key, "t": now})
                continue
            # A replay of ``owner``: this delivery is that one. The aliases just taken point to it too.
            for taken in attempt.aliases_won:
                self.claims.put(ALIAS_SCOPE, taken, {"key": owner, "t": now})
            attempt.aliases_won.clear()
            attempt.replay_of, attempt.key = attempt.key, owner
            return

    # ------------------------------------------------------------------ claim
    def claim(self, attempt: Attempt, fresh_ids: dict[str, str]) -> tuple[str, dict[str, str]]:
        """('go', ids) to record and queue, or ('duplicate', ids) when it is done already.

        Raises Unavailable when another receiver is still on it at the end of the budget.
        """
        while True:
            won, data = self.claims.claim(CLAIM_SCOPE, attempt.key,
                                          {"deployments": fresh_ids, "state": "pending", "t": time.time()})
            if won:
                attempt.won = True
                return "go", fresh_ids
            ids = dict(data.get("deployments") or {}) or fresh_ids
            if data.get("state") == "queued":
                return "duplicate", ids
            age = time.time() - float(data.get("t") or 0)
            if age > self.policy.takeover_after_s:
                attempt.takeover = True
                return "go", ids
            # Someone is on it right now (a concurrent redelivery): wait for their outcome.
            while True:
                left = time_left()
                if left is not None and left <= self.policy.poll_s:
                    raise Unavailable("this delivery is being received by another request; retry",
                                      code="delivery_in_progress")
                threading.Event().wait(self.policy.poll_s)
                try:
                    current = self.claims.get(CLAIM_SCOPE, attempt.key)
                except BudgetSpent:
                    raise Unavailable("this delivery is being received by another request; retry",
                                      code="delivery_in_progress") from None
                if current is None:
                    break  # released: nothing was queued; claim it afresh
                if current.get("state") == "queued":
                    return "duplicate", dict(current.get("deployments") or ids)
                if time.time() - float(current.get("t") or 0) > self.policy.takeover_after_s:
                    attempt.takeover = True
                    return "go", dict(current.get("deployments") or ids)

    def done(self, attempt: Attempt, ids: dict[str, str]) -> None:
        """Everything is on the queue: later deliveries are duplicates. Best effort (a failure here
        only means a redelivery re-sends requests still ``queued``)."""
        try:
            self.claims.put(CLAIM_SCOPE, attempt.key, {"deployments": ids, "state": "queued", "t": time.time()})
        except Exception as exc:  # acknowledged already: everything is queued
            log.warning("webhook %s: claim not marked queued (%s)", attempt.key, type(exc).__name__)

    def undo(self, attempt: Attempt, ids: dict[str, str], delete_record: Callable[[str], None]) -> bool:
        """Nothing reached the queue: delete the records of a claim we made, then the claims.

        Returns whether everything was undone (else the claim stays ``pending`` for the retry).
        """
        if not attempt.won:
            return False
        try:
            for deployment_id in ids.values():
                delete_record(deployment_id)
            self.claims.release(CLAIM_SCOPE, attempt.key)
            for alias in attempt.aliases_won:
                self.claims.release(ALIAS_SCOPE, alias)
        except Exception as exc:  # storage is failing: a retry or the sweeper finishes
            log.warning("webhook %s: not undone (%s); a retry reuses its deployment ids", attempt.key,
                        type(exc).__name__)
            return False
        return True


def delete_unqueued_record(storage: StorageAccount, deployment_id: str) -> None:
    """Remove a deployment record whose request never reached the queue (it was never acknowledged)."""
    from azure.core.exceptions import ResourceNotFoundError

    from ..audit.keys import DeploymentKey

    k = DeploymentKey(deployment_id)
    for table, pk, rk in ((storage.names.details_table, deployment_id, "status-000-queued"),
                          (storage.names.deployments_table, k.partition, k.row)):
        try:
            storage.table(table).delete_entity(pk, rk, **sdk_options())
        except ResourceNotFoundError:
            pass
