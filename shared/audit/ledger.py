"""The audit ledger on Azure Table storage (SPEC section 7).

Tables (names from :class:`~shared.settings.StorageNames`):

* deployments: PartitionKey = environment, RowKey = inverted time + component
  + suffix. One row per deployment holding its current state; it moves
  forward only (a final status is never changed) under optimistic concurrency.
* details: PartitionKey = deployment id. Append-only rows for every status
  transition, step and per-object result, so one deployment reads as one
  partition.
* activity: PartitionKey = environment, RowKey = inverted time + kind + hash
  of an idempotency key. Toggles, schedule actions, approvals, drift, incidents.

Writes are idempotent: keys are deterministic, rows are created with a
conditional insert (a retry finds the row and returns it). Values too large
for a table property (a plan of thousands of objects) go to a blob that the
row references.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..clock import Clock, SystemClock
from ..errors import BadRequest, Conflict, NotFound, Unavailable
from ..storage import StorageAccount, not_provisioned, sdk_options
from ..storage_writes import create_entity, update_entity, upsert_batch, upsert_entity
from . import keys
from .records import (
    FINAL_STATUSES,
    INLINE_LIMIT,
    Activity,
    DeploymentRecord,
    ObjectResult,
    StepRecord,
)

_BATCH = 100  # Table transactions: one partition, at most 100 entities
T = TypeVar("T")


@dataclass
class Page:
    items: list[Any]
    continuation: str | None


def encode_token(state: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode().rstrip("=")


def newest_page(heads: list[tuple[str, str, T]], cursor: dict[str, str], limit: int) -> tuple[list[T], str | None]:
    """Merge rows read from several partitions, each read newest first after its ``cursor`` row.

    ``heads`` holds (RowKey, partition, item) for up to ``limit + 1`` rows of each partition; rows
    are keyed by inverted time, so ascending RowKey is newest first. Returns the newest ``limit``
    items and the continuation token: ``cursor`` with the last row taken from each partition, or
    None when nothing is left.
    """
    heads.sort(key=lambda h: (h[0], h[1]))
    chosen = heads[:limit]
    if len(heads) <= limit:
        return [item for _, _, item in chosen], None
    following = dict(cursor)
    for row, part, _ in chosen:
        following[part] = row
    return [item for _, _, item in chosen], encode_token(following)


def decode_token(token: str | None) -> dict[str, str]:
    if not token:
        return {}
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        state = json.loads(raw)
        if not isinstance(state, dict) or not all(isinstance(v, str) for v in state.values()):
            raise ValueError
        return state
    except (ValueError, json.JSONDecodeError):
        raise BadRequest("continuation token is not valid", code="invalid_continuation") from None


def _odata_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class AuditLedger:
    def __init__(self, storage: StorageAccount, clock: Clock | None = None) -> None:
        self.storage = storage
        self.names = storage.names
        self.clock = clock or SystemClock()

    # ------------------------------------------------------------------ helpers
    @property
    def _deployments(self) -> Any:
        return self.storage.table(self.names.deployments_table)

    @property
    def _details(self) -> Any:
        return self.storage.table(self.names.details_table)

    @property
    def _activity(self) -> Any:
        return self.storage.table(self.names.activity_table)

    def _guard(self, exc: Exception) -> None:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            from ..errors import _host_in
            from ..timeouts import reason_of

            host = _host_in(exc) or "?"
            raise Unavailable(f"Azure Storage {host} (audit) is unreachable: {reason_of(exc)}",
                              details={"service": "storage", "host": host}) from exc

    def _offload(self, owner: str, name: str, value: Any) -> tuple[str | None, str | None]:
        """JSON text inline when small, else written to a blob; returns (inline, blob_name)."""
        if value is None:
            return None, None
        text = json.dumps(value, default=str, sort_keys=True)
        if len(text) <= INLINE_LIMIT:
            return text, None
        blob = f"{owner}/{name}.json"
        self.storage.container(self.names.payload_container).upload_blob(
            blob, text.encode(), overwrite=True, **sdk_options())
        return None, blob

    def _load_blob(self, blob: str) -> Any:
        data = self.storage.container(self.names.payload_container).download_blob(blob).readall()
        return json.loads(data)

    def put_payload(self, owner: str, name: str, value: Any) -> str:
        blob = f"{owner}/{name}.json"
        self.storage.container(self.names.payload_container).upload_blob(
            blob, json.dumps(value, default=str, sort_keys=True).encode(), overwrite=True)
        return blob

    def get_payload(self, blob: str) -> Any:
        return self._load_blob(blob)

    # -------------------------------------------------------------- deployments
    def new_deployment_id(self, environment: str, component: str, seed: str,
                          when: datetime | None = None) -> str:
        return keys.deployment_id(environment, component, when or self.clock.now(), seed)

    def _deployment_entity(self, rec: DeploymentRecord) -> dict[str, Any]:
        k = keys.DeploymentKey(rec.id)
        entity = rec.to_entity()
        entity.pop("plan", None)
        inline, blob = self._offload(rec.id, "plan", rec.plan)
        if inline is not None:
            entity["plan"] = inline
        if blob is not None:
            entity["plan_blob"] = blob
        for name in ("commits", "error_details", "extra"):
            if name in entity and len(entity[name]) > INLINE_LIMIT:
                entity.pop(name)
                entity[f"{name}_blob"] = self.put_payload(rec.id, name, json.loads(
                    rec.to_entity()[name]))
        entity["PartitionKey"], entity["RowKey"] = k.partition, k.row
        return entity

    def _record_from(self, entity: dict[str, Any], *, with_plan: bool = True) -> DeploymentRecord:
        e = dict(entity)
        for name in ("plan", "commits", "error_details", "extra"):
            blob = e.pop(f"{name}_blob", None)
            if blob and (with_plan or name != "plan"):
                e[name] = json.dumps(self._load_blob(blob))
        if not with_plan:
            e.pop("plan", None)
        return DeploymentRecord.from_entity(e)

    def create_deployment(self, rec: DeploymentRecord) -> tuple[DeploymentRecord, bool]:
        """Insert the deployment row; returns (record, created). A retried create returns the stored row."""
        from azure.core.exceptions import AzureError, ResourceExistsError

        if rec.queued_at is None:
            rec.queued_at = self.clock.now()
        entity = self._deployment_entity(rec)
        try:
            create_entity(self._deployments, entity)  # a retry that finds our own row is a success
        except ResourceExistsError:
            return self.get_deployment(rec.id), False
        except AzureError as exc:
            self._guard(exc)
            raise
        self._append_detail(rec.id, f"status-000-{rec.status}",
                            {"kind": "status", "status": rec.status, "at": rec.queued_at.isoformat()})
        return rec, True

    def get_deployment(self, deployment_id: str, *, with_plan: bool = True) -> DeploymentRecord:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            k = keys.DeploymentKey(deployment_id)
        except ValueError:
            raise NotFound(f"deployment {deployment_id!r} not found", code="unknown_deployment") from None
        try:
            entity = self._deployments.get_entity(k.partition, k.row, **sdk_options())
        except ResourceNotFoundError as exc:
            missing = not_provisioned(exc, self.names)
            if missing is not None:  # no table at all: not "no such deployment"
                raise missing from None
            raise NotFound(f"deployment {deployment_id!r} not found", code="unknown_deployment") from None
        return self._record_from(entity, with_plan=with_plan)

    def update_deployment(self, deployment_id: str, *, allow_final: bool = False,
                          **changes: Any) -> DeploymentRecord:
        """Apply ``changes`` to the deployment row with optimistic concurrency (ETag), retrying on races.

        A deployment in a final status is never changed again unless ``allow_final``
        (used only to attach notes such as a later rollback reference).
        """
        from azure.core.exceptions import ResourceModifiedError

        k = keys.DeploymentKey(deployment_id)
        for _ in range(20):
            entity = self._deployments.get_entity(k.partition, k.row, **sdk_options())
            current = self._record_from(entity)
            if current.final and not allow_final:
                raise Conflict(f"deployment {deployment_id} already ended as {current.status}",
                               code="deployment_final")
            for name, value in changes.items():
                if not hasattr(current, name):
                    raise AttributeError(name)
                setattr(current, name, value)
            new_entity = self._deployment_entity(current)
            try:
                # A retry after a reset that finds our own write (412 to the retry) is a success.
                update_entity(self._deployments, new_entity, etag=entity.metadata["etag"])
                return current
            except ResourceModifiedError:
                continue
        raise Conflict(f"deployment {deployment_id} is being changed concurrently", code="write_conflict")

    def transition(self, deployment_id: str, status: str, *, at: datetime | None = None,
                   **changes: Any) -> DeploymentRecord:
        """Move a deployment to ``status``, recording the transition in its detail partition."""
        at = at or self.clock.now()
        # started_at is when the last attempt began planning: the waits before it (lock, window,
        # approval) are the deployment's wait (queued -> started), not its run (started -> ended).
        if status == "planning" and "started_at" not in changes:
            changes["started_at"] = at
        elif status == "running" and "started_at" not in changes:
            current = self.get_deployment(deployment_id, with_plan=False)
            if current.started_at is None:
                changes["started_at"] = at
        if status in FINAL_STATUSES:
            changes.setdefault("ended_at", at)
        rec = self.update_deployment(deployment_id, status=status, **changes)
        seq = len([d for d in self.details(deployment_id, prefix="status-")])
        self._append_detail(deployment_id, f"status-{seq:03d}-{status}",
                            {"kind": "status", "status": status, "at": at.isoformat(),
                             "error": changes.get("error")})
        return rec

    def _append_detail(self, deployment_id: str, row: str, data: dict[str, Any]) -> None:
        from azure.core.exceptions import ResourceExistsError

        inline, blob = self._offload(deployment_id, keys.fit_key(row), data)
        entity: dict[str, Any] = {"PartitionKey": deployment_id, "RowKey": keys.fit_key(row)}
        entity["data" if inline is not None else "data_blob"] = inline if inline is not None else blob
        try:
            create_entity(self._details, entity)
        except ResourceExistsError:
            pass  # idempotent: the same row was already written

    def record_detail(self, deployment_id: str, row: str, data: dict[str, Any]) -> None:
        """One detail row of a deployment (written once: rewriting the same row is a no-op; large data
        goes to a blob). Write-ahead records use it: what an apply is about to change, before it does."""
        self._append_detail(deployment_id, row, data)

    def details(self, deployment_id: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        flt = f"PartitionKey eq {_odata_str(deployment_id)}"
        if prefix:
            flt += f" and RowKey ge {_odata_str(prefix)} and RowKey lt {_odata_str(prefix + '~')}"
        for e in self._details.query_entities(flt):
            data = self._load_blob(e["data_blob"]) if e.get("data_blob") else json.loads(e["data"])
            yield keys.unsafe_key(e["RowKey"]), data

    def record_step(self, step: StepRecord) -> None:
        self._append_detail(step.deployment_id, f"step-{step.seq:03d}-{step.name}-{step.status}",
                            {"kind": "step", **step.to_json()})

    def record_objects(self, deployment_id: str, results: Iterable[ObjectResult], phase: str = "") -> int:
        """Per-object results, in transactions of 100 rows; rewriting the same results is a no-op."""
        from azure.data.tables import TableTransactionError

        rows: dict[str, dict[str, Any]] = {}
        for r in results:
            row = keys.fit_key(f"obj-{phase}{r.object_type}-{r.name}")
            rows[row] = {"PartitionKey": deployment_id, "RowKey": row,
                         "data": json.dumps({"kind": "object", **r.to_json()}, default=str)[:INLINE_LIMIT]}
        items = list(rows.values())
        for i in range(0, len(items), _BATCH):
            chunk = items[i:i + _BATCH]
            try:
                upsert_batch(self._details, chunk)
            except TableTransactionError:
                for e in chunk:
                    upsert_entity(self._details, e)
        return len(items)

    def steps(self, deployment_id: str) -> list[dict[str, Any]]:
        latest: dict[int, dict[str, Any]] = {}
        for _, d in self.details(deployment_id, prefix="step-"):
            latest[d["seq"]] = d if d["seq"] not in latest or d.get("ended_at") else latest[d["seq"]]
        return [latest[k] for k in sorted(latest)]

    def objects(self, deployment_id: str) -> list[ObjectResult]:
        """Per-object results in the order they happened (results without a time first, by row)."""
        results = [ObjectResult.from_json(d) for _, d in self.details(deployment_id, prefix="obj-")]
        return sorted(results, key=lambda r: r.at or "")

    def status_history(self, deployment_id: str) -> list[dict[str, Any]]:
        return [d for _, d in self.details(deployment_id, prefix="status-")]

    # ------------------------------------------------------------------ queries
    def list_deployments(self, environment: str, *, since: datetime | None = None,
                         until: datetime | None = None, component: str | None = None,
                         status: str | None = None, actor: str | None = None,
                         commit: str | None = None, limit: int = 50,
                         continuation: str | None = None, with_plan: bool = False, ref: str | None = None) -> Page:
        """Newest first, one partition range: ``PartitionKey eq env and RowKey in [until, since]``."""
        return self.list_many([environment], since=since, until=until, component=component, status=status,
                              actor=actor, commit=commit, limit=limit, continuation=continuation,
                              with_plan=with_plan, ref=ref)

    def _filter(self, environment: str, since: datetime | None, until: datetime | None,
                after_row: str | None, extra: dict[str, str | None]) -> str:
        parts = [f"PartitionKey eq {_odata_str(environment)}"]
        if until is not None:
            parts.append(f"RowKey ge {_odata_str(keys.inverted(until))}")
        if since is not None:
            parts.append(f"RowKey lt {_odata_str(keys.inverted(since) + '~')}")
        if after_row is not None:
            parts.append(f"RowKey gt {_odata_str(after_row)}")
        for name, value in extra.items():
            if value is not None:
                parts.append(f"{name} eq {_odata_str(value)}")
        return " and ".join(parts)

    def list_many(self, environments: list[str], *, since: datetime | None = None,
                  until: datetime | None = None, component: str | None = None, status: str | None = None,
                  actor: str | None = None, commit: str | None = None, limit: int = 50,
                  continuation: str | None = None, with_plan: bool = False, ref: str | None = None) -> Page:
        if not 1 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000", code="invalid_limit")
        state = decode_token(continuation)
        extra = {"component": component, "status": status, "actor": actor, "ref": ref}
        heads: list[tuple[str, str, dict[str, Any]]] = []
        for env in environments:
            flt = self._filter(env, since, until, state.get(env), extra)
            if commit:
                flt += f" and commit ge {_odata_str(commit)} and commit lt {_odata_str(commit + '~')}"
            # limit + 1 rows in one request tell whether another page exists.
            pages = self._deployments.query_entities(flt, results_per_page=limit + 1).by_page()
            taken = 0
            for page in pages:
                for e in page:
                    heads.append((e["RowKey"], env, e))
                    taken += 1
                if taken > limit:
                    break
        chosen, token = newest_page(heads, state, limit)
        return Page([self._record_from(e, with_plan=with_plan) for e in chosen], token)

    def iter_deployments(self, environment: str, *, since: datetime | None = None,
                         until: datetime | None = None,
                         select: list[str] | None = None) -> Iterator[DeploymentRecord]:
        """Every deployment of an environment in a time window, newest first (a partition range).

        ``select`` reads only those properties (plus the ones a record needs), which halves the
        transfer and decoding of long ranges (metrics).
        """
        flt = self._filter(environment, since, until, None, {})
        if select is not None:
            select = sorted({"id", "environment", "component", "commit", *select})
        for e in self._deployments.query_entities(flt, results_per_page=1000, select=select):
            yield self._record_from(e, with_plan=False)

    def latest(self, environment: str, component: str | None = None,
               status: str | None = None) -> DeploymentRecord | None:
        page = self.list_deployments(environment, component=component, status=status, limit=1)
        return page.items[0] if page.items else None

    # ----------------------------------------------------------------- activity
    def record_activity(self, activity: Activity) -> tuple[Activity, bool]:
        """Append one activity; the same ``key`` is recorded once (returns (activity, created))."""
        from azure.core.exceptions import ResourceExistsError

        row = f"{keys.inverted(activity.at)}-{activity.kind}-{keys.short_hash(activity.kind, activity.key, length=12)}"
        activity.id = f"{activity.environment}~{row}"
        entity: dict[str, Any] = {
            "PartitionKey": activity.environment, "RowKey": row, "kind": activity.kind,
            "key": activity.key[:1000], "at": activity.at.isoformat(), "summary": activity.summary[:2000],
        }
        for name in ("actor", "status", "deployment_id"):
            if getattr(activity, name) is not None:
                entity[name] = getattr(activity, name)
        inline, blob = self._offload(f"activity/{activity.environment}", row, activity.data)
        entity["data" if inline is not None else "data_blob"] = inline if inline is not None else blob
        try:
            create_entity(self._activity, entity)
            return activity, True
        except ResourceExistsError:
            return activity, False

    def _activity_from(self, e: dict[str, Any]) -> Activity:
        data = self._load_blob(e["data_blob"]) if e.get("data_blob") else json.loads(e.get("data") or "{}")
        return Activity(environment=e["PartitionKey"], kind=e["kind"], key=e["key"],
                        at=datetime.fromisoformat(e["at"]), actor=e.get("actor"), status=e.get("status"),
                        summary=e.get("summary", ""), deployment_id=e.get("deployment_id"), data=data,
                        id=f"{e['PartitionKey']}~{e['RowKey']}")

    def get_activity(self, activity_id: str) -> Activity:
        from azure.core.exceptions import ResourceNotFoundError

        env, _, row = activity_id.partition("~")
        try:
            return self._activity_from(self._activity.get_entity(env, row))
        except ResourceNotFoundError as exc:
            missing = not_provisioned(exc, self.names)
            if missing is not None:  # no table at all: not "no such record"
                raise missing from None
            raise NotFound(f"record {activity_id!r} not found") from None
        except ValueError:
            raise NotFound(f"record {activity_id!r} not found") from None

    def update_activity(self, activity: Activity) -> None:
        """Replace an activity's status/data (incidents get resolved); the key and time stay."""
        env, _, row = activity.id.partition("~")
        entity: dict[str, Any] = {
            "PartitionKey": env, "RowKey": row, "kind": activity.kind, "key": activity.key[:1000],
            "at": activity.at.isoformat(), "summary": activity.summary[:2000],
        }
        for name in ("actor", "status", "deployment_id"):
            if getattr(activity, name) is not None:
                entity[name] = getattr(activity, name)
        inline, blob = self._offload(f"activity/{env}", row, activity.data)
        entity["data" if inline is not None else "data_blob"] = inline if inline is not None else blob
        from azure.data.tables import UpdateMode

        self._activity.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def list_activity(self, environment: str, *, since: datetime | None = None,
                      until: datetime | None = None, kind: str | None = None, limit: int = 50,
                      continuation: str | None = None) -> Page:
        state = decode_token(continuation)
        flt = self._filter(environment, since, until, state.get(environment), {"kind": kind})
        items: list[Activity] = []
        last_row: str | None = None
        more = False
        for page in self._activity.query_entities(flt, results_per_page=min(limit + 1, 1000)).by_page():
            for e in page:
                if len(items) >= limit:
                    more = True
                    break
                items.append(self._activity_from(e))
                last_row = e["RowKey"]
            if more or len(items) >= limit:
                break
        token = encode_token({environment: last_row}) if more and last_row else None
        return Page(items, token)

    def iter_activity(self, environment: str, *, since: datetime | None = None,
                      until: datetime | None = None, kind: str | None = None) -> Iterator[Activity]:
        flt = self._filter(environment, since, until, None, {"kind": kind})
        for e in self._activity.query_entities(flt, results_per_page=1000):
            yield self._activity_from(e)
