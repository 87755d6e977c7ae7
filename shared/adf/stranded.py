"""Stranded triggers: stopped by a deployment, and not started again by its restore (issue 16, item 6).

When a deployment ends with ``error_details.stranded_triggers`` (the restore after
a failure, or the recovery of a crashed deployment, could not start them), the
after-end hook :func:`stranded_hook` records one ``stranded_trigger`` activity per
trigger in the environment's audit and alerts through the environment's
notification channels (event ``stranded``). A factory with its triggers stopped
loads no data, so this must not wait for someone to read the audit.

The maintenance timer (:func:`retry_stranded`, every five minutes) then tries to
start each one, under the environment's ``adf`` lock (never in the middle of a
deployment), until it is started; each outcome updates the activity:

* ``restarted``: started by the timer (an alert says so);
* ``resolved``: already started, gone from the factory, or a later deployment
  succeeded (that deployment owns the trigger states now);
* still ``stranded``: the attempt and its error are counted on the activity.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..audit.records import Activity, DeploymentRecord

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from ..config import DataFactoryTarget, PlatformConfig
    from ..release.notify import Notifier
    from ..settings import Settings
    from ..storage import StorageAccount
    from .client import FactoryClient

log = logging.getLogger(__name__)

KIND = "stranded_trigger"
LOOK_BACK = timedelta(days=14)
EVENT_TRIGGERS = ("BlobEventsTrigger", "CustomEventsTrigger")


def stranded_of(rec: DeploymentRecord) -> list[str]:
    details = rec.error_details or {}
    names = details.get("stranded_triggers") or []
    return sorted({str(n) for n in names if isinstance(n, str)}) if isinstance(names, list) else []


def record_stranded(ledger: AuditLedger, rec: DeploymentRecord, notifier: Notifier | None) -> list[str]:
    """One ``stranded_trigger`` activity per trigger the deployment left stopped; alert once."""
    names = stranded_of(rec)
    if rec.component != "adf" or not names:
        return []
    created = []
    for name in names:
        _, new = ledger.record_activity(Activity(
            environment=rec.environment, kind=KIND, key=f"{rec.id}:{name}", at=ledger.clock.now(),
            status="stranded", deployment_id=rec.id,
            summary=f"trigger {name} was stopped by deployment {rec.id} and could not be started again; "
                    "the maintenance timer keeps trying",
            data={"trigger": name, "deployment_id": rec.id, "attempts": 0}))
        if new:
            created.append(name)
    if created and notifier is not None:
        notifier.notify(dataclasses.replace(rec, status="stranded"), "stranded",
                        f"triggers left stopped in {rec.environment}: {', '.join(created)}; "
                        "the maintenance timer retries starting them")
    return created


def stranded_hook(ledger: AuditLedger, notifier: Notifier | None) -> Callable[[DeploymentRecord], None]:
    """After-end hook: record and alert the triggers a failed deployment left stranded."""

    def hook(rec: DeploymentRecord) -> None:
        record_stranded(ledger, rec, notifier)

    return hook


def _still_stranded(ledger: AuditLedger, env: str, since: datetime) -> dict[str, Activity]:
    """The latest open ``stranded_trigger`` activity of each trigger."""
    out: dict[str, Activity] = {}
    for act in ledger.iter_activity(env, since=since, kind=KIND):  # newest first
        name = str(act.data.get("trigger") or "")
        if name and name.lower() not in {n.lower() for n in out} and act.status == "stranded":
            out[name] = act
    return out


def retry_stranded(config: PlatformConfig, ledger: AuditLedger, settings: Settings, storage: StorageAccount, *,
                   notifier: Notifier | None = None,
                   client_factory: Callable[[DataFactoryTarget, Settings], FactoryClient] | None = None,
                   now: datetime | None = None) -> dict[str, list[str]]:
    """Try to start every stranded trigger; returns {"restarted", "resolved", "still_stranded"}."""
    from ..deploy.lock import LeaseLock
    from .client import FactoryClient

    now = now or ledger.clock.now()
    report: dict[str, list[str]] = {"restarted": [], "resolved": [], "still_stranded": []}
    for env_name, env in config.environments.items():
        target = env.data_factory
        if target is None:
            continue
        open_ = _still_stranded(ledger, env_name, now - LOOK_BACK)
        if not open_:
            continue
        lock = LeaseLock(storage, env_name, "adf", duration=30)
        if not lock.try_acquire("maintenance:stranded-triggers"):
            report["still_stranded"] += [f"{env_name}/{n}" for n in open_]  # a deployment runs: next time
            continue
        try:
            client = (client_factory or FactoryClient)(target, settings)
            later = ledger.latest(env_name, component="adf", status="succeeded")
            for name, act in open_.items():
                outcome, why = _retry_one(client, name, act, later)
                _update(ledger, act, outcome, why, now)
                report["still_stranded" if outcome == "stranded" else outcome].append(f"{env_name}/{name}")
                if outcome == "restarted" and notifier is not None:
                    rec = _record_for(ledger, act)
                    if rec is not None:
                        notifier.notify(dataclasses.replace(rec, status="stranded"), "stranded",
                                        f"trigger {name} in {env_name} is started again (it was stranded)")
        finally:
            lock.release()
    return report


def _retry_one(client: FactoryClient, name: str, act: Activity,
               later: DeploymentRecord | None) -> tuple[str, str]:
    if later is not None and later.ended_at is not None and later.ended_at > act.at:
        return "resolved", f"deployment {later.id} succeeded since: it owns the trigger states"
    try:
        cur = client.get_trigger(name)
        if cur is None:
            return "resolved", "the trigger no longer exists"
        if cur.get("runtimeState") == "Started":
            return "resolved", "the trigger is started"
        client.start_trigger(name)
        if cur.get("type") in EVENT_TRIGGERS and client.event_subscription_status(name) != "Enabled":
            client.subscribe_trigger(name)
    except Exception as exc:  # throttled, refused, unreachable: try again next time
        return "stranded", f"{type(exc).__name__}: {str(exc)[:300]}"
    return "restarted", "started by the maintenance timer"


def _update(ledger: AuditLedger, act: Activity, outcome: str, why: str, now: datetime) -> None:
    data: dict[str, Any] = {**act.data, "attempts": int(act.data.get("attempts") or 0) + 1,
                            "last_attempt": now.isoformat(), "last_result": why}
    summary = act.summary if outcome == "stranded" else f"{act.summary.split(';')[0]}; {outcome}: {why}"
    ledger.update_activity(dataclasses.replace(act, status=outcome, data=data, summary=summary[:2000]))


def _record_for(ledger: AuditLedger, act: Activity) -> DeploymentRecord | None:
    from ..errors import NotFound

    try:
        return ledger.get_deployment(act.deployment_id or "", with_plan=False) if act.deployment_id else None
    except NotFound:
        return None
