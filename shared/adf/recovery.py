"""Finishing a Data Factory deployment whose worker died mid-way (issue 16, item 2).

The apply records every trigger it stops, unsubscribes, starts and deletes, wave
by wave, as per-object results of its deployment. When the worker dies (a
SIGKILL, a host recycle) the triggers it stopped stay stopped. The next holder
of the environment's lock reads those results and puts back what the audit
says was changed and not undone:

* triggers stopped (``stop_triggers``) or event triggers unsubscribed and not
  started again (``start_triggers``, ``restore_triggers``) nor deleted on
  purpose (``delete_removed``) are started, in the same dependency-ordered waves
  as the start step (tumbling window dependencies first), an event trigger's
  subscription enabled;
* objects it deleted in order to recreate them (tumbling window triggers that
  cannot be updated in place, ``replace_triggers``; other objects ADF refuses to
  change in place, ``recreate_objects``) and that are still missing are put
  back first, from the definitions the apply wrote to the audit *before* each
  delete (write-ahead rows ``wal-remove-<type>-<name>``, :func:`record_removal`):
  other objects first, then triggers in the reverse of their delete waves
  (what others depend on first), so a replaced trigger comes back as it was
  and is started like any other trigger it stopped;
* each outcome is recorded on the crashed deployment (phase ``recover``), and
  the caller records it ``failed`` with what was restored and what could not be.

A trigger that still cannot be started is left for the caller to report as
stranded (the maintenance timer retries it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..audit.records import ObjectResult
from .plan import start_waves
from .waves import run_wave

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from ..config import DataFactoryTarget
    from ..settings import Settings
    from .client import FactoryClient

log = logging.getLogger(__name__)

PHASES = ("stop_triggers", "replace_triggers", "arm_deployment", "delete_removed", "start_triggers",
          "restore_triggers", "recreate_objects", "restore_objects", "recover_objects", "recover")
EVENT_TRIGGERS = ("BlobEventsTrigger", "CustomEventsTrigger")


WAL_PREFIX = "wal-remove-"
# the order objects deleted for recreation are put back in: what others reference first
_PUT_BACK_ORDER = ("integrationRuntime", "linkedService", "credential", "dataset", "dataflow", "pipeline",
                   "changeDataCapture", "trigger")


@dataclass
class Recovery:
    restored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # trigger -> why it could not be started
    recreated: list[str] = field(default_factory=list)  # "<type>/<name>" put back from the write-ahead record
    not_recreated: dict[str, str] = field(default_factory=dict)  # "<type>/<name>" -> why not

    @property
    def summary(self) -> str:
        parts = [f"restored {len(self.restored)} trigger(s) it had stopped"
                 + (f": {', '.join(sorted(self.restored)[:20])}" if self.restored else "")]
        if self.recreated:
            parts.append(f"recreated {len(self.recreated)} object(s) it had deleted to replace: "
                         f"{', '.join(sorted(self.recreated)[:20])}")
        if self.not_recreated:
            parts.append(f"could not recreate {', '.join(sorted(self.not_recreated)[:20])}")
        if self.failed:
            parts.append(f"could not start {', '.join(sorted(self.failed)[:20])}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"restored": sorted(self.restored), "not_restored": dict(sorted(self.failed.items())),
                "recreated": sorted(self.recreated), "not_recreated": dict(sorted(self.not_recreated.items()))}


def record_removal(ledger: AuditLedger | None, deployment_id: str | None, phase: str, object_type: str,
                   name: str, definition: dict[str, Any], wave: int = 0) -> None:
    """Write-ahead: the definition of an object the apply is about to delete and recreate, in the audit
    before the delete is sent (a failure to write it fails the step before anything is deleted)."""
    if ledger is None or not deployment_id:
        return
    ledger.record_detail(deployment_id, f"{WAL_PREFIX}{object_type}-{name}",
                         {"kind": "write_ahead", "intent": "delete_to_recreate", "phase": phase,
                          "object_type": object_type, "name": name, "wave": wave, "definition": definition})


def removed_for_recreate(ledger: AuditLedger, deployment_id: str) -> list[dict[str, Any]]:
    """The write-ahead records of a deployment, in the order to put them back."""
    rows = [d for _, d in ledger.details(deployment_id, prefix=WAL_PREFIX) if d.get("kind") == "write_ahead"]

    def rank(d: dict[str, Any]) -> tuple[int, int, str]:
        t = str(d.get("object_type"))
        return (_PUT_BACK_ORDER.index(t) if t in _PUT_BACK_ORDER else len(_PUT_BACK_ORDER) - 1,
                -int(d.get("wave") or 0), str(d.get("name")))

    return sorted(rows, key=rank)


def put_back_removed(ledger: AuditLedger, deployment_id: str, client: FactoryClient,
                     record: Callable[[list[ObjectResult]], object] | None = None) -> tuple[list[str], dict[str, str]]:
    """Recreate, from the write-ahead records, what the crashed apply deleted to recreate and is still
    missing (the ARM deployment may have recreated it already: then it is left as it is)."""
    done: list[str] = []
    failed: dict[str, str] = {}
    for d in removed_for_recreate(ledger, deployment_id):
        otype, name = str(d["object_type"]), str(d["name"])
        try:
            if client.get_object(otype, name) is not None:
                continue
            client.put_object(otype, name, d["definition"])
        except Exception as exc:  # recorded; the triggers are still started where they can be
            failed[f"{otype}/{name}"] = str(exc)[:500]
            result = ObjectResult(otype, name, "recreate", "failed", str(exc)[:1000])
        else:
            done.append(f"{otype}/{name}")
            result = ObjectResult(otype, name, "recreate", "succeeded")
        if record is not None:
            record([result])
    return done, failed


def _phase(row: str) -> str:
    rest = row[len("obj-"):]
    for p in PHASES:
        if rest.startswith(p):
            return p
    return ""


def left_stopped(ledger: AuditLedger, deployment_id: str) -> list[str]:
    """Triggers the deployment stopped or unsubscribed and did not start again nor delete on purpose."""
    touched: list[str] = []
    undone: set[str] = set()
    for row, data in ledger.details(deployment_id, prefix="obj-"):
        if data.get("object_type") != "trigger" or data.get("status") != "succeeded":
            continue
        phase, action, name = _phase(row), data.get("action"), str(data.get("name"))
        if phase == "stop_triggers" and action in ("stop", "unsubscribe"):
            if name not in touched:
                touched.append(name)
        elif action == "start" or (phase == "delete_removed" and action == "delete"):
            undone.add(name)
    return [n for n in touched if n not in undone]


def recover_triggers(ledger: AuditLedger, deployment_id: str, client: FactoryClient, *, max_parallel: int = 8,
                     record: Callable[[list[ObjectResult]], object] | None = None,
                     record_recreated: Callable[[list[ObjectResult]], object] | None = None) -> Recovery:
    """Put back what the crashed deployment deleted to recreate, then start what it left stopped; record
    each outcome (phase ``recover``)."""
    out = Recovery()
    out.recreated, out.not_recreated = put_back_removed(ledger, deployment_id, client, record_recreated)
    todo = left_stopped(ledger, deployment_id)
    if not todo:
        return out
    live: dict[str, dict[str, Any]] = {}
    missing: list[str] = []

    def read(name: str) -> None:
        cur = client.get_trigger(name)
        if cur is None:
            missing.append(name)
        else:
            live[name] = cur.get("properties") or {}

    for name, exc in run_wave(todo, read, max_parallel):
        if exc is not None:
            live[name] = {}  # unreadable, not missing: still try (recorded if it fails)
    for name in missing:  # gone, and no write-ahead record to recreate it from: nothing to start
        out.failed[name] = out.not_recreated.get(f"trigger/{name}") or "the trigger no longer exists"

    def start(name: str) -> None:
        client.start_trigger(name)
        if (live.get(name) or {}).get("type") in EVENT_TRIGGERS and client.event_subscription_status(name) != "Enabled":
            client.subscribe_trigger(name)

    waves, _ = start_waves([n for n in todo if n in live], live)
    for wave in waves:
        results = run_wave(wave, start, max_parallel)
        batch = [ObjectResult("trigger", n, "start", "failed" if e else "succeeded",
                              None if e is None else str(e)[:1000]) for n, e in results]
        for n, e in results:
            if e is None:
                out.restored.append(n)
            else:
                out.failed[n] = str(e)[:500]
        if record is not None:
            record(batch)
    return out


def recover_deployment(ledger: AuditLedger, deployment_id: str, target: DataFactoryTarget, settings: Settings,
                       client_factory: Callable[[DataFactoryTarget, Settings], FactoryClient] | None = None
                       ) -> Recovery:
    """:func:`recover_triggers` with the environment's factory client, recorded on the deployment."""
    from .client import FactoryClient

    client = (client_factory or FactoryClient)(target, settings)
    return recover_triggers(ledger, deployment_id, client, max_parallel=target.max_parallel,
                            record=lambda batch: ledger.record_objects(deployment_id, batch, "recover"),
                            record_recreated=lambda batch: ledger.record_objects(deployment_id, batch,
                                                                                 "recover_objects"))
