"""What is deployed: one "current" record per environment and component, written at each success.

The supersede check compares a deployment with this record, by commit ancestry, not with the most
recently *queued* success: deliveries arrive out of order and workers finish out of order, so queue
time says nothing about what the target holds. A commit that is not a descendant of the deployed one
is superseded unless it is a rollback, forced (with a reason), or a force-push whose ``before`` is
the deployed commit (the push knowingly replaced it).

Rows live in the state table (PartitionKey ``current``, RowKey ``<env>~<component>``) and are
written with optimistic concurrency: the writer holds the environment's lock, and if the lease was
lost meanwhile the ETag refuses a stale overwrite (re-read, written only if ours descends theirs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import Unavailable
from ..storage import StorageAccount
from ..storage_writes import create_entity, update_entity

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger

log = logging.getLogger(__name__)

PARTITION = "current"


@dataclass(frozen=True)
class Deployed:
    environment: str
    component: str
    commit: str
    deployment_id: str
    at: datetime
    trigger: str = ""
    etag: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "component": self.component, "commit": self.commit,
                "deployment_id": self.deployment_id, "at": self.at.isoformat(), "trigger": self.trigger}


class CurrentDeployments:
    """Read and advance the per-environment/component record of what is deployed."""

    def __init__(self, storage: StorageAccount) -> None:
        self.table = storage.table(storage.names.state_table)

    @staticmethod
    def _row(environment: str, component: str) -> str:
        return f"{environment}~{component}"

    def get(self, environment: str, component: str) -> Deployed | None:
        from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError, ServiceResponseError

        try:
            e = self.table.get_entity(PARTITION, self._row(environment, component))
        except ResourceNotFoundError:
            return None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise Unavailable("state storage is unreachable") from exc
        d = json.loads(e.get("data") or "{}")
        return Deployed(environment, component, str(d["commit"]), str(d["deployment_id"]),
                        datetime.fromisoformat(d["at"]), str(d.get("trigger") or ""), e.metadata.get("etag"))

    def in_environment(self, environment: str) -> list[Deployed]:
        """Every component's current record in ``environment``."""
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        low, high = f"{environment}~", f"{environment}\x7f"  # "~" sorts just below DEL
        try:
            rows = list(self.table.query_entities(
                "PartitionKey eq @p and RowKey gt @lo and RowKey lt @hi",
                parameters={"p": PARTITION, "lo": low, "hi": high}))
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise Unavailable("state storage is unreachable") from exc
        out = []
        for e in rows:
            d = json.loads(e.get("data") or "{}")
            out.append(Deployed(environment, str(e["RowKey"]).split("~", 1)[1], str(d["commit"]),
                                str(d["deployment_id"]), datetime.fromisoformat(d["at"]),
                                str(d.get("trigger") or ""), e.metadata.get("etag")))
        return out

    def advance(self, deployed: Deployed, *, seen: Deployed | None,
                descends: Callable[[str, str], bool] | None = None) -> Deployed:
        """Record ``deployed`` as current, if the row is still ``seen`` (None: no row yet).

        When another writer changed the row meanwhile, ours is written only if ``descends(theirs,
        ours)`` says our commit contains theirs; otherwise theirs stays (and is returned).
        """
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        entity = {"PartitionKey": PARTITION, "RowKey": self._row(deployed.environment, deployed.component),
                  "data": json.dumps(deployed.to_json())}
        for _ in range(5):
            try:
                if seen is None or seen.etag is None:
                    create_entity(self.table, entity)
                else:
                    update_entity(self.table, entity, etag=seen.etag)
                return deployed
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                theirs = self.get(deployed.environment, deployed.component)
                if theirs is None:
                    seen = None
                    continue
                if theirs.commit != deployed.commit and descends is not None and \
                        not descends(theirs.commit, deployed.commit):
                    log.warning("%s/%s: %s became current meanwhile and is not contained in %s; kept",
                                deployed.environment, deployed.component, theirs.commit[:12],
                                deployed.commit[:12])
                    return theirs
                seen = theirs
        return deployed


def deployed_in(storage: StorageAccount, ledger: AuditLedger, environment: str,
                components: Iterable[str] = ()) -> dict[str, dict[str, Any] | None]:
    """What each component of ``environment`` runs: its current record with who deployed it, when, and
    how many commits it brought (None: nothing deployed yet). ``components`` are listed even then."""
    from ..errors import NotFound

    out: dict[str, dict[str, Any] | None] = {c: None for c in components}
    rows = {d.component: d for d in CurrentDeployments(storage).in_environment(environment)}
    for name in sorted(set(out) | set(rows)):
        current = rows.get(name)
        rec = None
        if current is None:  # ledgers from before the current records: the latest success
            rec = ledger.latest(environment, component=name, status="succeeded")
            if rec is None:
                continue
            current = Deployed(environment, name, rec.commit, rec.id, rec.ended_at or rec.queued_at or
                               datetime.min, rec.trigger)
        entry = current.to_json()
        try:
            rec = rec or ledger.get_deployment(current.deployment_id, with_plan=False)
        except NotFound:
            rec = None
        if rec is not None:
            entry.update(status=rec.status, actor=rec.actor, actor_verified=rec.actor_verified,
                         actor_source=rec.actor_source, ref=rec.ref, ended_at=rec.ended_at.isoformat()
                         if rec.ended_at else None, commits=len(rec.commits), commit_range=rec.commit_range)
        out[name] = entry
    return out
