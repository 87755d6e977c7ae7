"""Databricks compute for the environment schedules: clusters, SQL warehouses, job schedules.

A small adapter over ``databricks-sdk`` (built with
:func:`shared.databricks.client.workspace_client`) that returns plain
:class:`ComputeObject` values, so the schedule planning stays pure.

Rules from the Databricks API:

* clusters: only *interactive* clusters (created from the UI or the API) are
  terminated; job and pipeline clusters belong to their run and are never
  touched. ``clusters/delete`` terminates (it does not delete the
  definition); ``clusters/start`` works only from ``TERMINATED``.
* SQL warehouses: ``stop`` / ``start``.
* jobs: whichever of ``schedule`` (cron), ``continuous`` or ``trigger``
  (file arrival, table update, periodic) the job has (a job has at most one)
  carries a ``pause_status`` (``PAUSED`` / ``UNPAUSED``; absent means
  unpaused). ``jobs/update`` replaces whole top-level settings fields, so the
  complete object is sent back, as read (raw JSON: fields this SDK does not
  know survive), with only ``pause_status`` changed.

Nothing here waits for a cluster or warehouse to reach its final state: the
state change is accepted by the API, which is what a schedule needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..notebooks.throttle import AdaptivePacer, RetryPolicy

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from ..config import DatabricksTarget
    from ..settings import Settings

T = TypeVar("T")
# Cluster states in which a cluster costs money and a stop changes something.
CLUSTER_RUNNING = frozenset({"PENDING", "RUNNING", "RESIZING", "RESTARTING"})
INTERACTIVE_SOURCES = frozenset({"UI", "API", ""})
# The job settings fields that make a job run by itself, each with its own pause_status.
JOB_TRIGGER_FIELDS = ("schedule", "continuous", "trigger")
JOBS_API = "/api/2.2/jobs"
WAREHOUSE_RUNNING = frozenset({"STARTING", "RUNNING"})


@dataclass(frozen=True)
class ComputeObject:
    """One cluster, warehouse or job as the schedules see it."""

    kind: str  # cluster | warehouse | job
    id: str
    name: str
    state: str
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # clusters: UI | API | JOB | PIPELINE ...; jobs: schedule | continuous | trigger

    @property
    def interactive(self) -> bool:
        return self.kind != "cluster" or self.source in INTERACTIVE_SOURCES


def _enum(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


class WorkspaceCompute:
    """Clusters, warehouses and job schedules of one workspace."""

    def __init__(self, client: WorkspaceClient, *, pacer: AdaptivePacer | None = None, host: str = "?",
                 timeouts: tuple[float, float] = (5.0, 60.0)) -> None:
        self.w = client
        self.pacer = pacer or AdaptivePacer(8)
        self.host, self.timeouts = host, timeouts

    @classmethod
    def for_target(cls, target: DatabricksTarget, settings: Settings, **config: Any) -> WorkspaceCompute:
        """Throttling (429) waited out within ``throttle_budget_s``; an unreachable workspace fails after
        ``timeouts.unreachable_retries`` more tries as Unavailable naming it (:mod:`.calls`)."""
        from ..timeouts import timeouts_of
        from .client import workspace_client

        limits = timeouts_of(target)
        policy = RetryPolicy(throttle_budget_s=target.throttle_budget_s,
                             max_unreachable_attempts=1 + limits.unreachable_retries)
        return cls(workspace_client(target, settings, **config), pacer=AdaptivePacer(target.max_parallel, policy=policy),
                   host=target.host, timeouts=limits.of("databricks"))

    def _call(self, fn: Callable[[], T]) -> T:
        from .calls import run

        return run(self.pacer, fn, self.host, self.timeouts)

    # ----------------------------------------------------------------- clusters
    def clusters(self) -> list[ComputeObject]:
        """Every cluster, job clusters included (callers decide; ``interactive`` tells them apart)."""
        out = []
        for c in self._call(lambda: list(self.w.clusters.list())):
            out.append(ComputeObject("cluster", c.cluster_id or "", c.cluster_name or c.cluster_id or "",
                                     _enum(c.state), dict(c.custom_tags or {}), _enum(c.cluster_source)))
        return out

    def terminate_cluster(self, cluster_id: str) -> None:
        """Terminate (``clusters/delete``); the definition stays and can be started again."""
        self._call(lambda: self.w.clusters.delete(cluster_id=cluster_id))

    def start_cluster(self, cluster_id: str) -> None:
        """Start a TERMINATED cluster (the API refuses any other state)."""
        self._call(lambda: self.w.clusters.start(cluster_id=cluster_id))

    # --------------------------------------------------------------- warehouses
    def warehouses(self) -> list[ComputeObject]:
        out = []
        for wh in self._call(lambda: list(self.w.warehouses.list())):
            pairs = (wh.tags.custom_tags if wh.tags and wh.tags.custom_tags else [])
            tags = {p.key: p.value or "" for p in pairs if p.key}
            out.append(ComputeObject("warehouse", wh.id or "", wh.name or wh.id or "", _enum(wh.state), tags))
        return out

    def stop_warehouse(self, warehouse_id: str) -> None:
        self._call(lambda: self.w.warehouses.stop(id=warehouse_id))

    def start_warehouse(self, warehouse_id: str) -> None:
        self._call(lambda: self.w.warehouses.start(id=warehouse_id))

    # --------------------------------------------------------------------- jobs
    def scheduled_jobs(self) -> list[ComputeObject]:
        """Jobs that run by themselves (cron schedule, continuous, file-arrival / table-update / periodic
        trigger); state is that object's ``pause_status``, ``source`` the field that holds it."""
        out = []
        for job in self._call(lambda: list(self.w.jobs.list())):
            s = job.settings
            if s is None:
                continue
            for name in JOB_TRIGGER_FIELDS:
                value = getattr(s, name, None)
                if value is None:
                    continue
                state = _enum(getattr(value, "pause_status", None)) or "UNPAUSED"  # absent means unpaused
                out.append(ComputeObject("job", str(job.job_id), s.name or str(job.job_id), state,
                                         dict(s.tags or {}), name))
                break
        return out

    def set_job_pause(self, job_id: str, pause_status: str) -> None:
        """Pause or unpause whatever runs the job, sending that whole object back (update replaces it)."""
        if pause_status not in ("PAUSED", "UNPAUSED"):
            raise ValueError(f"pause_status must be PAUSED or UNPAUSED, not {pause_status!r}")
        job = self._call(lambda: self.w.api_client.do("GET", f"{JOBS_API}/get", query={"job_id": int(job_id)}))
        settings = (job.get("settings") if isinstance(job, dict) else None) or {}
        name = next((f for f in JOB_TRIGGER_FIELDS if isinstance(settings.get(f), dict)), None)
        if name is None:
            raise ValueError(f"job {job_id} has no schedule, continuous or trigger settings")
        value = {**settings[name], "pause_status": pause_status}
        self._call(lambda: self.w.api_client.do("POST", f"{JOBS_API}/update",
                                                body={"job_id": int(job_id), "new_settings": {name: value}}))
