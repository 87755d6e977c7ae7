"""Helpers for the release tests: a local git repository, a deployer of our own, a queue drainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.audit import AuditLedger
from shared.audit.records import DeploymentRecord, ObjectResult
from shared.config import PlatformConfig, parse_config
from shared.deploy.components import COMPONENTS, ComponentRegistry
from shared.deploy.model import ApplyResult, DeployContext, Plan, PlannedAction
from shared.deploy.orchestrator import Orchestrator, Outcome, submit
from shared.deploy.queue import DeploymentQueue
from shared.deploy.request import DeploymentRequest
from shared.release import after_end_hooks, gates
from shared.release.notify import Notifier
from shared.settings import Settings
from shared.storage import StorageAccount
from tests.deploy.helpers import LocalRepo
from tests.fixtures.identity import PEOPLE

# One throwaway git repository helper for all suites.
GitRepo = LocalRepo


@dataclass
class ReleaseDeployer:
    """One ``update`` per file, plus the configured ``delete`` actions; fails in ``fail_in``."""

    component: str = "notebooks"
    deletes: list[str] = field(default_factory=list)
    fail_in: set[str] = field(default_factory=set)
    applied: list[tuple[str, str]] = field(default_factory=list)  # (environment, commit)

    def plan(self, ctx: DeployContext) -> Plan:
        actions = [PlannedAction("update", "file", p) for p in sorted(ctx.snapshot.files)]
        actions += [PlannedAction("delete", "pipeline", n) for n in self.deletes]
        return Plan(self.component, ctx.environment, ctx.snapshot.sha, tuple(actions))

    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        self.applied.append((ctx.environment, plan.commit))
        status = "failed" if ctx.environment in self.fail_in else "succeeded"
        return ApplyResult(status, [ObjectResult(a.object_type, a.name, a.action, status) for a in plan.actions],
                           error="target refused" if status == "failed" else None)


    def registry(self) -> ComponentRegistry:
        """The product's components, with this deployer deploying ``notebooks``."""
        return COMPONENTS.replacing_deployer("notebooks", lambda: self)


def make_config(repo: GitRepo, envs: dict[str, Any]) -> PlatformConfig:
    return parse_config({"repository": {"provider": "local", "url": str(repo.path)}, "environments": envs,
                         "people": PEOPLE})


PIPELINE = {
    "dev": {"deploy_on": ["push"]},
    "test": {"deploy_on": ["promotion"], "requires": ["dev"]},
    "prod": {"deploy_on": ["promotion"], "requires": ["test"], "approval": "required"},
}


@dataclass
class Flow:
    """An orchestrator with the release gates and hooks, and a drain of the deployment queue."""

    config: PlatformConfig
    storage: StorageAccount
    ledger: AuditLedger
    deployer: ReleaseDeployer
    settings: Settings = field(default_factory=lambda: Settings({}))
    window_recheck_cap: int = 3600

    def __post_init__(self) -> None:
        self.components = self.deployer.registry()
        self.queue = DeploymentQueue(self.storage)
        clock = self.ledger.clock
        notifier = Notifier(self.config, self.settings, clock, self.ledger, backoff_seconds=0.01)
        self.orchestrator = Orchestrator(
            self.config, self.storage, self.ledger, self.settings, clock, self.queue,
            gates=gates(self.config, self.settings, clock, window_recheck_cap=self.window_recheck_cap,
                        notifier=notifier),
            after_end=after_end_hooks(self.config, self.storage, self.ledger, self.settings, clock, self.queue,
                                      notifier=notifier),
            components=self.components)

    def take(self) -> list[DeploymentRequest]:
        q = self.storage.queue(self.storage.names.deploy_queue)
        out = []
        for m in q.receive_messages(max_messages=32, visibility_timeout=60):
            out.append(DeploymentRequest.from_bytes(m.content))
            q.delete_message(m)
        return out

    def drain(self, rounds: int = 20) -> list[Outcome]:
        """Run every visible request, and the requests those runs queue, until none is left."""
        outcomes: list[Outcome] = []
        for _ in range(rounds):
            batch = self.take()
            if not batch:
                return outcomes
            for req in batch:
                self.ledger.clock.advance(1)  # type: ignore[attr-defined]
                outcomes.append(self.orchestrator.run(req))
        raise AssertionError("the queue did not drain")

    def push(self, sha: str, env: str = "dev", actor: str = "ada", **kw: Any) -> DeploymentRecord:
        self.ledger.clock.advance(1)  # type: ignore[attr-defined]
        return submit(self.ledger, self.queue, environment=env, component="notebooks", commit=sha,
                      ref="refs/heads/main", trigger=kw.pop("trigger", "push"), actor=actor, **kw)

    def get(self, deployment_id: str) -> DeploymentRecord:
        return self.ledger.get_deployment(deployment_id)

    def of(self, env: str) -> list[DeploymentRecord]:
        return self.ledger.list_deployments(env, limit=100).items
