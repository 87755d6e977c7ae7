"""Clusters, SQL warehouses and jobs of the Databricks stand-in (pure state, no HTTP).

States move lazily: a transition records when it completes (``now + delay_s``) and every
read settles whatever is due, so there are no background threads. Errors are
:class:`~devhost.standins.databricks_workspace.WorkspaceError` with the real error codes.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .databricks_workspace import WorkspaceError

# transitional state -> the state it settles into
_SETTLES = {"PENDING": "RUNNING", "RESTARTING": "RUNNING", "RESIZING": "RUNNING",
            "TERMINATING": "TERMINATED", "STARTING": "RUNNING", "STOPPING": "STOPPED",
            "DELETING": "DELETED"}


@dataclass
class _Stateful:
    state: str
    settles_at: float | None = None

    def settle(self, now: float) -> bool:
        """Move a due transitional state to its final state; True when it changed."""
        if self.settles_at is not None and now >= self.settles_at and self.state in _SETTLES:
            self.state = _SETTLES[self.state]
            self.settles_at = None
            return True
        return False


@dataclass
class Cluster(_Stateful):
    spec: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = copy.deepcopy(self.spec)
        out["state"] = self.state
        out["state_message"] = "" if self.state in ("RUNNING", "TERMINATED") else f"{self.state.title()}..."
        return out


@dataclass
class Warehouse(_Stateful):
    spec: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = copy.deepcopy(self.spec)
        out["state"] = self.state
        out["num_active_sessions"] = 0
        out["num_clusters"] = 1 if self.state == "RUNNING" else 0
        return out


class ComputeState:
    """Clusters, warehouses and jobs. ``monotonic`` drives transitions, ``clock_ms`` timestamps."""

    def __init__(self, *, delay_s: float, monotonic: Callable[[], float], clock_ms: Callable[[], int]) -> None:
        self.delay_s = delay_s
        self._monotonic = monotonic
        self._clock_ms = clock_ms
        self._lock = threading.RLock()
        self._clusters: dict[str, Cluster] = {}
        self._warehouses: dict[str, Warehouse] = {}
        self._jobs: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    # -- clusters ---------------------------------------------------------------------------
    def _cluster(self, cluster_id: Any) -> Cluster:
        cluster = self._clusters.get(str(cluster_id))
        if cluster is None:
            # The real Clusters API answers 400 INVALID_PARAMETER_VALUE for an unknown id.
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Cluster {cluster_id} does not exist")
        self._settle_cluster(cluster)
        return cluster

    def _settle_cluster(self, cluster: Cluster) -> None:
        if cluster.settle(self._monotonic()):
            now = self._clock_ms()
            if cluster.state == "RUNNING":
                cluster.spec["last_restarted_time"] = now
            elif cluster.state == "TERMINATED":
                cluster.spec["terminated_time"] = now
                cluster.spec["termination_reason"] = {"code": "USER_REQUEST", "type": "SUCCESS",
                                                      "parameters": {"username": "api"}}

    def add_cluster(self, name: str, *, state: str = "RUNNING", cluster_source: str = "UI",
                    custom_tags: dict[str, str] | None = None, cluster_id: str | None = None,
                    **spec: Any) -> str:
        """Seed a cluster; returns its id. ``cluster_source`` is UI, API or JOB."""
        with self._lock:
            cid = cluster_id or f"0101-{next(self._ids):06d}-standin"
            now = self._clock_ms()
            body = {"cluster_id": cid, "cluster_name": name, "cluster_source": cluster_source,
                    "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2",
                    "num_workers": 1, "autotermination_minutes": 60, "creator_user_name": "seed@example.com",
                    "start_time": now, "custom_tags": dict(custom_tags or {}),
                    "default_tags": {"Vendor": "Databricks", "Creator": "seed@example.com",
                                     "ClusterName": name, "ClusterId": cid}}
            body.update(spec)
            cluster = Cluster(state=state, spec=body)
            if state in _SETTLES:
                cluster.settles_at = self._monotonic() + self.delay_s
            self._clusters[cid] = cluster
            return cid

    def list_clusters(self, states: list[str] | None = None, sources: list[str] | None = None
                      ) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for cluster in self._clusters.values():
                self._settle_cluster(cluster)
                if states and cluster.state not in states:
                    continue
                if sources and cluster.spec.get("cluster_source") not in sources:
                    continue
                out.append(cluster.as_json())
            return out

    def get_cluster(self, cluster_id: Any) -> dict[str, Any]:
        with self._lock:
            return self._cluster(cluster_id).as_json()

    def start_cluster(self, cluster_id: Any) -> None:
        """Only a TERMINATED cluster starts (PENDING, then RUNNING after the delay)."""
        with self._lock:
            cluster = self._cluster(cluster_id)
            if cluster.spec.get("cluster_source") == "JOB":
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                     f"Cluster {cluster_id} is a job cluster and cannot be started")
            if cluster.state != "TERMINATED":
                raise WorkspaceError(400, "INVALID_STATE",
                                     f"Cluster {cluster_id} is in unexpected state {cluster.state.title()}.")
            cluster.state, cluster.settles_at = "PENDING", self._monotonic() + self.delay_s
            cluster.spec["start_time"] = self._clock_ms()

    def terminate_cluster(self, cluster_id: Any) -> None:
        """``clusters/delete``: TERMINATING then TERMINATED; already terminated is a no-op."""
        with self._lock:
            cluster = self._cluster(cluster_id)
            if cluster.state in ("TERMINATED", "TERMINATING"):
                return
            cluster.state, cluster.settles_at = "TERMINATING", self._monotonic() + self.delay_s

    # -- warehouses -------------------------------------------------------------------------
    def _warehouse(self, warehouse_id: str) -> Warehouse:
        warehouse = self._warehouses.get(warehouse_id)
        if warehouse is None:
            raise WorkspaceError(404, "RESOURCE_DOES_NOT_EXIST",
                                 f"SQL warehouse {warehouse_id} does not exist.")
        warehouse.settle(self._monotonic())
        return warehouse

    def add_warehouse(self, name: str, *, state: str = "RUNNING", tags: dict[str, str] | None = None,
                      warehouse_id: str | None = None, **spec: Any) -> str:
        """Seed a SQL warehouse; returns its id. ``tags`` become ``tags.custom_tags``."""
        with self._lock:
            wid = warehouse_id or f"{next(self._ids):016x}"
            body: dict[str, Any] = {
                "id": wid, "name": name, "cluster_size": "2X-Small", "min_num_clusters": 1,
                "max_num_clusters": 1, "auto_stop_mins": 10, "creator_name": "seed@example.com",
                "enable_photon": True, "enable_serverless_compute": False, "warehouse_type": "PRO",
                "spot_instance_policy": "COST_OPTIMIZED",
                "tags": {"custom_tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
                "jdbc_url": f"jdbc:spark://standin:443/default;httpPath=/sql/1.0/warehouses/{wid}",
                "odbc_params": {"hostname": "standin", "path": f"/sql/1.0/warehouses/{wid}",
                                "port": 443, "protocol": "https"}}
            body.update(spec)
            warehouse = Warehouse(state=state, spec=body)
            if state in _SETTLES:
                warehouse.settles_at = self._monotonic() + self.delay_s
            self._warehouses[wid] = warehouse
            return wid

    def list_warehouses(self) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for warehouse in self._warehouses.values():
                warehouse.settle(self._monotonic())
                out.append(warehouse.as_json())
            return out

    def get_warehouse(self, warehouse_id: str) -> dict[str, Any]:
        with self._lock:
            return self._warehouse(warehouse_id).as_json()

    def start_warehouse(self, warehouse_id: str) -> None:
        """STOPPED -> STARTING -> RUNNING; starting a running/starting warehouse is accepted."""
        with self._lock:
            warehouse = self._warehouse(warehouse_id)
            if warehouse.state in ("RUNNING", "STARTING"):
                return
            if warehouse.state in ("DELETING", "DELETED"):
                raise WorkspaceError(400, "INVALID_STATE", f"SQL warehouse {warehouse_id} is deleted.")
            warehouse.state, warehouse.settles_at = "STARTING", self._monotonic() + self.delay_s

    def stop_warehouse(self, warehouse_id: str) -> None:
        """RUNNING -> STOPPING -> STOPPED; stopping a stopped/stopping warehouse is accepted."""
        with self._lock:
            warehouse = self._warehouse(warehouse_id)
            if warehouse.state in ("STOPPED", "STOPPING", "DELETED", "DELETING"):
                return
            warehouse.state, warehouse.settles_at = "STOPPING", self._monotonic() + self.delay_s

    # -- jobs -------------------------------------------------------------------------------
    def _job(self, job_id: Any) -> dict[str, Any]:
        try:
            job = self._jobs.get(int(job_id))
        except (TypeError, ValueError):
            job = None
        if job is None:
            raise WorkspaceError(404, "RESOURCE_DOES_NOT_EXIST", f"Job {job_id} does not exist.")
        return job

    def add_job(self, name: str, *, pause_status: str | None = "UNPAUSED",
                quartz_cron_expression: str = "0 0 6 * * ?", timezone_id: str = "UTC",
                tags: dict[str, str] | None = None, job_id: int | None = None, **settings: Any) -> int:
        """Seed a job; returns its id. It gets a cron schedule unless ``pause_status`` is None or
        ``continuous`` / ``trigger`` settings are given (a job has at most one of the three)."""
        if "continuous" in settings or "trigger" in settings:
            pause_status = None
        _check_runs_by_itself(settings)
        with self._lock:
            jid = job_id or 1000 + next(self._ids)
            body: dict[str, Any] = {"name": name, "max_concurrent_runs": 1, "timeout_seconds": 0,
                                    "format": "MULTI_TASK", "email_notifications": {},
                                    "tags": dict(tags or {}),
                                    "tasks": [{"task_key": "main",
                                               "notebook_task": {"notebook_path": "/Shared/main",
                                                                 "source": "WORKSPACE"},
                                               "existing_cluster_id": "0101-000001-standin"}]}
            if pause_status is not None:
                body["schedule"] = {"quartz_cron_expression": quartz_cron_expression,
                                    "timezone_id": timezone_id, "pause_status": pause_status}
            body.update(settings)
            self._jobs[jid] = {"job_id": jid, "creator_user_name": "seed@example.com",
                               "run_as_user_name": "seed@example.com", "created_time": self._clock_ms(),
                               "settings": body}
            return jid

    def list_jobs(self, *, expand_tasks: bool = False, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for jid in sorted(self._jobs):
                job = copy.deepcopy(self._jobs[jid])
                if name is not None and job["settings"].get("name") != name:
                    continue
                if not expand_tasks:
                    # The list omits tasks and job clusters unless expand_tasks=true.
                    job["settings"].pop("tasks", None)
                    job["settings"].pop("job_clusters", None)
                    job["has_more"] = False
                out.append(job)
            return out

    def get_job(self, job_id: Any) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._job(job_id))

    def update_job(self, job_id: Any, new_settings: dict[str, Any] | None,
                   fields_to_remove: list[str] | None) -> None:
        """``jobs/update``: each top-level field of ``new_settings`` replaces the stored one whole."""
        with self._lock:
            job = self._job(job_id)
            settings = job["settings"]
            for name in fields_to_remove or []:
                if "/" in name:
                    raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                         f"fields_to_remove: {name} is not supported by the stand-in")
                settings.pop(name, None)
            merged = {**settings, **copy.deepcopy(new_settings or {})}
            _check_runs_by_itself(merged)
            settings.clear()
            settings.update(merged)

    def reset_job(self, job_id: Any, new_settings: dict[str, Any]) -> None:
        """``jobs/reset``: replace all settings."""
        with self._lock:
            job = self._job(job_id)
            if not isinstance(new_settings, dict):
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "new_settings is required")
            _check_runs_by_itself(new_settings)
            job["settings"] = copy.deepcopy(new_settings)


_RUNS_BY_ITSELF = ("schedule", "continuous", "trigger")
_TRIGGER_KINDS = ("file_arrival", "table_update", "periodic", "model")


def _check_runs_by_itself(settings: dict[str, Any]) -> None:
    """The Jobs API's rules for ``schedule`` / ``continuous`` / ``trigger`` (at most one, each with a
    valid ``pause_status``; a trigger names exactly one kind)."""
    present = [f for f in _RUNS_BY_ITSELF if settings.get(f) is not None]
    if len(present) > 1:
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                             f"Only one of schedule, continuous and trigger can be set (got {', '.join(present)})")
    for name in present:
        value = settings[name]
        if not isinstance(value, dict):
            raise WorkspaceError(400, "MALFORMED_REQUEST", f"Invalid JSON given in the body of the request - "
                                 f"expected a map for field '{name}'")
        status = value.get("pause_status")
        if status is not None and status not in ("PAUSED", "UNPAUSED"):
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                 f"Invalid pause_status {status!r} for {name} (PAUSED or UNPAUSED)")
        if name == "trigger" and sum(value.get(k) is not None for k in _TRIGGER_KINDS) != 1:
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                 "A trigger must set exactly one of file_arrival, table_update, periodic")
        if name == "schedule" and not value.get("quartz_cron_expression"):
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "schedule.quartz_cron_expression is required")
