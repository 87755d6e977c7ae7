"""Plan, then apply: the shapes shared by the Data Factory and notebook deployers.

A plan is plain, serialisable data computed from the desired state (Git) and
the observed state (the target). Dry-run prints it, the audit stores it,
tests assert on it without any network.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import progress, telemetry
from ..audit.records import ObjectResult, StepRecord
from ..clock import Clock, SystemClock
from ..settings import Settings

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from ..config import Environment, PlatformConfig
    from ..git.snapshot import CommitSnapshot
    from ..storage import StorageAccount

ACTIONS = ("create", "update", "delete", "unchanged", "drifted", "stop", "start", "replace", "leave")


@dataclass(frozen=True)
class PlannedAction:
    action: str
    object_type: str
    name: str
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"action": self.action, "object_type": self.object_type, "name": self.name}
        if self.reason:
            d["reason"] = self.reason
        if self.details:
            d["details"] = dict(self.details)
        return d


@dataclass(frozen=True)
class Plan:
    component: str
    environment: str
    commit: str
    actions: tuple[PlannedAction, ...] = ()
    warnings: tuple[str, ...] = ()
    refused: str | None = None  # why this plan must not be applied (e.g. it deletes everything)
    data: Mapping[str, Any] = field(default_factory=dict)  # component-specific extras

    def counts(self) -> dict[str, int]:
        return dict(Counter(a.action for a in self.actions))

    def of(self, *actions: str) -> list[PlannedAction]:
        return [a for a in self.actions if a.action in actions]

    @property
    def deletes(self) -> list[PlannedAction]:
        return self.of("delete")

    @property
    def has_changes(self) -> bool:
        return any(a.action not in ("unchanged", "leave") for a in self.actions)

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "environment": self.environment, "commit": self.commit,
                "counts": self.counts(), "actions": [a.to_json() for a in self.actions],
                "warnings": list(self.warnings), "refused": self.refused, "data": dict(self.data)}


@dataclass
class ApplyResult:
    status: str  # succeeded | failed
    objects: list[ObjectResult] = field(default_factory=list)
    error: str | None = None
    error_details: dict[str, Any] | None = None
    failed_step: str | None = None

    def summary(self) -> dict[str, int]:
        c: Counter[str] = Counter()
        for o in self.objects:
            c[f"{o.action}_{o.status}"] += 1
            c[o.status] += 1
        return dict(c)


class StepRecorder:
    """Records each step of a deployment in the ledger and as a ``cicd.pipeline.task`` span."""

    def __init__(self, ledger: AuditLedger | None, deployment_id: str | None, clock: Clock) -> None:
        self.ledger, self.deployment_id, self.clock = ledger, deployment_id, clock
        self._seq = 0
        self.steps: list[StepRecord] = []
        self._recorded: set[int] = set()  # ids of results already recorded (deployers record per phase)

    @contextlib.contextmanager
    def step(self, name: str, **details: Any) -> Iterator[StepRecord]:
        self._seq += 1
        rec = StepRecord(self.deployment_id or "dry-run", self._seq, name, "running", self.clock.now(),
                         details=dict(details))
        progress.emit("step", rec)
        with telemetry.task_span(name, **{telemetry.TASK_RUN_ID: f"{self.deployment_id}/{self._seq}"}) as s:
            try:
                yield rec
            except Exception as exc:
                rec.status, rec.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
                s.set_attribute(telemetry.TASK_RESULT, "failure")
                raise
            else:
                if rec.status == "running":
                    rec.status = "succeeded"
                s.set_attribute(telemetry.TASK_RESULT, "success" if rec.status == "succeeded" else "failure")
            finally:
                rec.ended_at = self.clock.now()
                progress.emit("step", rec)
                self.steps.append(rec)
                if self.ledger and self.deployment_id:
                    self.ledger.record_step(rec)

    def objects(self, results: list[ObjectResult], phase: str = "") -> None:
        """Record per-object results; a result already recorded (e.g. in its phase) is not recorded again."""
        fresh = [r for r in results if id(r) not in self._recorded]
        self._recorded.update(id(r) for r in fresh)
        if self.ledger and self.deployment_id and fresh:
            self.ledger.record_objects(self.deployment_id, fresh, phase)


@dataclass
class DeployContext:
    """Everything a deployer needs, passed in (nothing read from globals)."""

    config: PlatformConfig
    environment: str
    snapshot: CommitSnapshot
    settings: Settings = field(default_factory=Settings.from_env)
    clock: Clock = field(default_factory=SystemClock)
    storage: StorageAccount | None = None
    ledger: AuditLedger | None = None
    deployment_id: str | None = None
    force: bool = False
    dry_run: bool = False
    recorder: StepRecorder | None = None

    def __post_init__(self) -> None:
        if self.recorder is None:
            self.recorder = StepRecorder(self.ledger, self.deployment_id, self.clock)

    @property
    def env(self) -> Environment:
        return self.config.environment(self.environment)

    @property
    def steps(self) -> StepRecorder:
        assert self.recorder is not None
        return self.recorder


class Deployer(Protocol):
    component: str

    def plan(self, ctx: DeployContext) -> Plan:
        """Desired state (``ctx.snapshot``) vs observed state (the target) -> the actions."""
        ...

    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        """Carry out ``plan``; never raises for a target-side failure, returns ``failed`` instead."""
        ...
