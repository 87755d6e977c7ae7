"""The four registered resource types: ``adf_triggers``, ``clusters``, ``warehouses``, ``jobs``.

Each is a thin mapping from an adapter (FactoryClient, WorkspaceCompute) to
:class:`~.resources.Resource` values; what "running" and "startable" mean per
type is decided here, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..databricks.compute import CLUSTER_RUNNING, WAREHOUSE_RUNNING
from .resources import Resource, ResourceType, annotation_tags, resource_types

if TYPE_CHECKING:
    from ..adf.client import FactoryClient
    from ..databricks.compute import WorkspaceCompute
    from .targets import EnvironmentTargets


class AdfTriggers:
    name = "adf_triggers"

    def __init__(self, factory: FactoryClient) -> None:
        self.factory = factory
        self._definitions: dict[str, dict[str, Any]] = {}

    def list(self) -> list[Resource]:
        out = []
        for t in self.factory.list_triggers():
            state = str(t.get("runtimeState") or "")
            props = t.get("properties") or {}
            self._definitions[str(t["name"])] = props
            out.append(Resource(self.name, str(t["name"]), str(t["name"]), state,
                                running=state == "Started", startable=state == "Stopped",
                                tags=annotation_tags(props.get("annotations") or [])))
        return out

    def stop(self, resource: Resource) -> None:
        self.factory.stop_trigger(resource.id)

    def start(self, resource: Resource) -> None:
        self.factory.start_trigger(resource.id)

    def start_waves(self, resources: Sequence[Resource]) -> Sequence[Sequence[Resource]]:
        """Tumbling window triggers after the triggers they depend on, as a deployment starts them
        (:func:`shared.adf.plan.order.start_waves`, definitions as last listed)."""
        from ..adf.plan.order import start_waves

        by_name = {r.name: r for r in resources}
        waves, _ = start_waves(sorted(by_name), self._definitions)
        return [[by_name[n] for n in wave] for wave in waves]


class Clusters:
    name = "clusters"

    def __init__(self, compute: WorkspaceCompute) -> None:
        self.compute = compute

    def list(self) -> list[Resource]:
        out = []
        for c in self.compute.clusters():
            # Job and pipeline clusters belong to their runs: never terminated by a schedule.
            out.append(Resource(self.name, c.id, c.name, c.state, running=c.state in CLUSTER_RUNNING,
                                startable=c.state == "TERMINATED", tags=c.tags, managed=c.interactive,
                                note="" if c.interactive else f"{c.source.lower()} cluster"))
        return out

    def stop(self, resource: Resource) -> None:
        self.compute.terminate_cluster(resource.id)

    def start(self, resource: Resource) -> None:
        self.compute.start_cluster(resource.id)


class Warehouses:
    name = "warehouses"

    def __init__(self, compute: WorkspaceCompute) -> None:
        self.compute = compute

    def list(self) -> list[Resource]:
        return [Resource(self.name, w.id, w.name, w.state, running=w.state in WAREHOUSE_RUNNING,
                         startable=w.state == "STOPPED", tags=w.tags) for w in self.compute.warehouses()]

    def stop(self, resource: Resource) -> None:
        self.compute.stop_warehouse(resource.id)

    def start(self, resource: Resource) -> None:
        self.compute.start_warehouse(resource.id)


class JobSchedules:
    name = "jobs"

    def __init__(self, compute: WorkspaceCompute) -> None:
        self.compute = compute

    def list(self) -> list[Resource]:
        # A cron schedule, a continuous job and a file-arrival / table-update trigger pause alike.
        return [Resource(self.name, j.id, j.name, j.state, running=j.state == "UNPAUSED",
                         startable=j.state == "PAUSED", tags=j.tags, kind=j.source)
                for j in self.compute.scheduled_jobs()]

    def stop(self, resource: Resource) -> None:
        self.compute.set_job_pause(resource.id, "PAUSED")

    def start(self, resource: Resource) -> None:
        self.compute.set_job_pause(resource.id, "UNPAUSED")


@resource_types.register("adf_triggers")
def _adf_triggers(targets: EnvironmentTargets) -> ResourceType | None:
    return AdfTriggers(targets.factory) if targets.factory is not None else None


@resource_types.register("clusters")
def _clusters(targets: EnvironmentTargets) -> ResourceType | None:
    return Clusters(targets.compute) if targets.compute is not None else None


@resource_types.register("warehouses")
def _warehouses(targets: EnvironmentTargets) -> ResourceType | None:
    return Warehouses(targets.compute) if targets.compute is not None else None


@resource_types.register("jobs")
def _jobs(targets: EnvironmentTargets) -> ResourceType | None:
    return JobSchedules(targets.compute) if targets.compute is not None else None
