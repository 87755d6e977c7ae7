"""Helpers for the ingest and deploy tests: local git repositories, a config, a small deployer."""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.audit.records import ObjectResult
from shared.config import PlatformConfig, parse_config
from shared.deploy.components import COMPONENTS, ComponentRegistry
from shared.deploy.model import ApplyResult, DeployContext, Plan, PlannedAction

GIT_ENV = {"GIT_AUTHOR_NAME": "Ada Dev", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada Dev", "GIT_COMMITTER_EMAIL": "ada@example.com"}


class LocalRepo:
    """A throwaway git repository with ``main`` and ``adf_publish`` branches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        out = subprocess.run(["git", "-C", str(self.path), *args], check=True, capture_output=True, env=env)
        return out.stdout.decode().strip()

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main") -> str:
        current = self.git("rev-parse", "--abbrev-ref", "HEAD") if self.git("branch", "--list") else "main"
        if current != branch:
            existing = self.git("branch", "--list", branch)
            self.git("checkout", "-q", *([branch] if existing else ["-b", branch]))
        for name, text in files.items():
            p = self.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            self.git("add", name)
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def make_config(repo_url: str, *, provider: str = "local", api_url: str | None = None,
                envs: dict[str, Any] | None = None) -> PlatformConfig:
    env = {"deploy_on": ["push"],
           "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"},
           "data_factory": {"subscription_id": "11111111-1111-1111-1111-111111111111",
                            "resource_group": "rg", "factory_name": "adf-dev"}}
    repo: dict[str, Any] = {"provider": provider, "url": repo_url}
    if api_url:
        repo["api_url"] = api_url
    return parse_config({"repository": repo,
                         "environments": envs or {"dev": env, "prod": {"deploy_on": ["manual"]}}})


@dataclass
class RecordingDeployer:
    """A deployer of our own for the orchestrator tests: one action per file, applied into a dict."""

    component: str = "notebooks"
    work_seconds: float = 0.0
    fail: bool = False
    applied: list[str] = field(default_factory=list)
    raise_in_plan: Exception | None = None

    def plan(self, ctx: DeployContext) -> Plan:
        if self.raise_in_plan is not None:
            raise self.raise_in_plan
        actions = tuple(PlannedAction("update", "file", p) for p in sorted(ctx.snapshot.files))
        return Plan(self.component, ctx.environment, ctx.snapshot.sha, actions)

    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        if self.work_seconds:
            threading.Event().wait(self.work_seconds)  # simulated work, so overlaps would show
        self.applied.append(plan.commit)
        status = "failed" if self.fail else "succeeded"
        return ApplyResult(status, [ObjectResult(a.object_type, a.name, a.action, status) for a in plan.actions],
                           error="target refused" if self.fail else None)


class Deployers(dict[str, RecordingDeployer]):
    """Recording deployers by component; ``components`` is the product registry deploying with them."""

    @property
    def components(self) -> ComponentRegistry:
        registry = COMPONENTS
        for name, deployer in self.items():
            registry = registry.replacing_deployer(name, lambda d=deployer: d)
        return registry


def drain_with_workers(queue: Any, ledger: Any, recs: list[Any], make_orch: Any, *, workers: int,
                       deadline_s: float) -> list[BaseException]:
    """Run ``workers`` threads pulling deployment requests from ``queue`` until every record in ``recs``
    is final (or the deadline passes); returns what the workers raised."""
    import time

    from shared.deploy.request import DeploymentRequest

    errors: list[BaseException] = []

    def worker(name: str) -> None:
        orch = make_orch(name)
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if all(ledger.get_deployment(r.id).final for r in recs):
                return
            for m in queue.receive_messages(max_messages=1, visibility_timeout=60):
                try:
                    orch.run(DeploymentRequest.from_bytes(m.content))
                    queue.delete_message(m)
                except BaseException as exc:  # surfaced to the test
                    errors.append(exc)
                    return
            threading.Event().wait(0.05)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(deadline_s + 30)
    return errors
