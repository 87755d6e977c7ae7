"""Notifications: a generic JSON webhook and a Microsoft Teams incoming-webhook message.

The URL comes from the app setting named by ``url_setting`` and is never logged,
traced or recorded (webhook URLs carry their credential). Delivery retries a
bounded number of times with exponential backoff on connection errors, 429 and
5xx; a failure is logged and recorded as an activity but never changes the
deployment's outcome.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..audit.ledger import AuditLedger
from ..audit.records import Activity, DeploymentRecord
from ..clock import Clock
from ..config import Notify, PlatformConfig
from ..settings import Settings

log = logging.getLogger(__name__)

STATUS_COLOURS = {"succeeded": "Good", "failed": "Attention", "rejected": "Attention",
                  "rolled_back": "Warning", "waiting_approval": "Accent", "superseded": "Default",
                  "stranded": "Attention"}


@dataclass(frozen=True)
class Delivery:
    """How one notification went (recorded; never carries the URL)."""

    kind: str
    url_setting: str
    event: str
    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None


def _title(rec: DeploymentRecord, event: str) -> str:
    what = {"waiting_approval": "waits for approval", "succeeded": "succeeded", "failed": "failed",
            "rejected": "was rejected", "rolled_back": "was rolled back",
            "superseded": "was superseded", "stranded": "left triggers stopped",
            "branch_workspace": "created a branch workspace folder"}.get(event, event)
    return f"{rec.component} deployment of {rec.commit[:12]} to {rec.environment} {what}"


def webhook_payload(rec: DeploymentRecord, event: str, reason: str | None = None) -> dict[str, Any]:
    """The generic JSON body: the event plus the deployment record without its plan."""
    return {"event": event, "title": _title(rec, event), "reason": reason,
            "deployment": rec.to_json(include_plan=False)}


def teams_payload(rec: DeploymentRecord, event: str, reason: str | None = None) -> dict[str, Any]:
    """A Teams incoming-webhook message carrying an Adaptive Card (Workflows and legacy connectors)."""
    facts = [{"title": "Environment", "value": rec.environment}, {"title": "Component", "value": rec.component},
             {"title": "Commit", "value": rec.commit[:12]}, {"title": "Trigger", "value": rec.trigger},
             {"title": "Actor", "value": rec.actor or "-"}, {"title": "Deployment", "value": rec.id}]
    if rec.rollback_of:
        facts.append({"title": "Rollback of", "value": rec.rollback_of})
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
         "color": STATUS_COLOURS.get(event, "Default"), "text": _title(rec, event)},
        {"type": "FactSet", "facts": facts},
    ]
    detail = reason or rec.error
    if detail:
        body.append({"type": "TextBlock", "wrap": True, "text": detail[:1000]})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


PAYLOADS: dict[str, Callable[[DeploymentRecord, str, str | None], dict[str, Any]]] = {
    "webhook": webhook_payload, "teams": teams_payload}


@dataclass
class Notifier:
    """Sends the configured notifications of an environment for one event."""

    config: PlatformConfig
    settings: Settings
    clock: Clock
    ledger: AuditLedger | None = None
    attempts: int = 4
    backoff_seconds: float = 0.5  # doubled after each failed attempt
    max_wait_seconds: float = 10.0  # cap of one wait (a long Retry-After is not honoured past it)
    timeout_seconds: float | None = None  # None: timeouts.notify of the configuration (default 10 s)

    def _timeout(self) -> float:
        """timeouts.notify: urllib has one timeout for connecting and each read (the larger of the two)."""
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        return max(self.config.timeouts.of("notify"))

    def notify(self, rec: DeploymentRecord, event: str, reason: str | None = None) -> list[Delivery]:
        """Deliver ``event`` for ``rec`` to every target of its environment subscribed to it."""
        env = self.config.environments.get(rec.environment)
        out: list[Delivery] = []
        for target in env.notify if env else []:
            # emergencies reach every channel; so does a branch folder (databricks.branch_workspaces.notify)
            if event not in target.on and event not in ("emergency", "branch_workspace"):
                continue
            try:
                delivery = self._deliver(target, rec, event, reason)
            except Exception as exc:  # a notification bug must never change the deployment's outcome
                log.exception("notification to %s failed", target.url_setting)
                delivery = Delivery(target.kind, target.url_setting, event, False, 0,
                                    error=type(exc).__name__)
            self._record(rec, delivery)
            out.append(delivery)
        return out

    def _deliver(self, target: Notify, rec: DeploymentRecord, event: str, reason: str | None) -> Delivery:
        url = self.settings.secret(target.url_setting)
        if not url:
            log.warning("notification skipped: app setting %s is not set", target.url_setting)
            return Delivery(target.kind, target.url_setting, event, False, 0,
                            error=f"app setting {target.url_setting} is not set")
        body = json.dumps(PAYLOADS[target.kind](rec, event, reason), default=str).encode()
        wait = self.backoff_seconds
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                req = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=self._timeout()) as resp:
                    status, error = int(resp.status), None
                    return Delivery(target.kind, target.url_setting, event, True, attempt, status)
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    break  # the receiver refused the message: retrying will not help
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, OSError) as exc:
                # The exception text may contain the URL: keep only the kind.
                reason_obj = getattr(exc, "reason", None)
                status, error = None, f"connection error: {type(reason_obj or exc).__name__}"
            if attempt < self.attempts:
                self.clock.sleep(min(self.max_wait_seconds, retry_after if retry_after is not None else wait))
                wait *= 2
        log.warning("notification %s via %s not delivered: %s", event, target.url_setting, error)
        return Delivery(target.kind, target.url_setting, event, False, attempt, status, error)

    def _record(self, rec: DeploymentRecord, d: Delivery) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record_activity(Activity(
                environment=rec.environment, kind="notification",
                key=f"{rec.id}/{d.event}/{d.kind}/{d.url_setting}", at=self.clock.now(),
                status="delivered" if d.delivered else "failed", deployment_id=rec.id,
                summary=f"{d.kind} notification '{d.event}' via {d.url_setting}: "
                        f"{'delivered' if d.delivered else d.error}",
                data={"kind": d.kind, "url_setting": d.url_setting, "event": d.event, "attempts": d.attempts,
                      "http_status": d.status, "error": d.error}))
        except Exception:
            log.exception("notification outcome for %s could not be recorded", rec.id)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff
