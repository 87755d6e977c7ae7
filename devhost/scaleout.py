"""Several dev host instances on one Azurite, as several instances of one Azure function app.

A run starts the Databricks and ARM / Data Factory stand-ins (with latency, so each
deployment takes a while), a sample data-platform repository with ``main``
(notebooks) and ``adf_publish`` (ARM templates), ``n`` dev host processes
(``python -m devhost``) sharing one storage account, delivers signed GitHub push
webhooks round-robin to the instances (as Azure's front end spreads requests),
and reads the outcome back from the audit ledger. Used by
``tests/e2e/test_scale_out.py`` and ``bench/bench_scaleout.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .azurite import ROOT, Azurite, free_port

DBX_TOKEN_SETTING = "SCALE_DATABRICKS_TOKEN"
ARM_TOKEN_SETTING = "SCALE_ARM_TOKEN"
COMPONENTS = ("notebooks", "adf")


@dataclass
class Deployment:
    id: str
    environment: str
    component: str
    commit: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    statuses: list[str]  # every status transition, in order (from the audit details)
    error: str | None = None

    @property
    def lane(self) -> tuple[str, str]:
        return self.environment, self.component


@dataclass
class ScaleOut:
    azurite: Azurite
    workdir: Path
    instances: int = 3
    environments: int = 6
    message_lease: float = 4.0  # Azure: 600 s; short so deployments outlast it in a quick run
    lock_retry_seconds: int = 1
    databricks_latency: float = 0.1  # per Databricks API call
    adf_deploy_seconds: float = 1.5  # each ARM template deployment
    log_dir: Path | None = None
    defer_workers: bool = False  # webhooks to an HTTP-only instance; the n workers start with start_workers()
    prefix: str = field(default_factory=lambda: "s" + uuid.uuid4().hex[:10])
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _ports: list[int] = field(default_factory=list)
    _standins: list[Any] = field(default_factory=list)
    pushes: list[tuple[str, str, str]] = field(default_factory=list)  # (branch, before, after)
    _delivered: int = 0

    # ------------------------------------------------------------ set-up
    def __enter__(self) -> ScaleOut:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def names(self) -> Any:
        from shared.settings import StorageNames

        return StorageNames(self.prefix)

    def env_names(self) -> list[str]:
        return [f"e{i + 1}" for i in range(self.environments)]

    def _start(self) -> None:
        import trustme

        from devhost.standins.arm import (
            DEFAULT_RESOURCE_GROUP,
            DEFAULT_SUBSCRIPTION,
            ArmStandIn,
            server_ssl_context,
        )
        from devhost.standins.databricks import DatabricksStandIn

        from .localstack import build_sample_repo

        self.workdir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        bundle = self.workdir / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        dbx = DatabricksStandIn(delay_s=0.05).start()
        self._standins.append(dbx)
        if self.databricks_latency:
            dbx.faults.add(".*", latency_s=self.databricks_latency)
        arm = ArmStandIn(token="arm-" + secrets.token_urlsafe(16),
                         ssl_context=server_ssl_context(ca, ["127.0.0.1", "localhost"]),
                         transition_s=0.05, deploy_delay_s=self.adf_deploy_seconds, poll_ms=500)
        arm.start()
        self._standins.append(arm)
        for env in self.env_names():
            arm.create_factory(f"adf-{self.prefix}-{env}")
        self.repo = self.workdir / "repo"
        build_sample_repo(self.repo)
        config = {
            "repository": {"provider": "local", "url": str(self.repo), "main_branch": "main",
                           "publish_branch": "adf_publish"},
            "adf": {"factory_dir": "adf-sample"}, "databricks": {"source_dir": "notebooks"},
            "environments": {env: {
                "deploy_on": ["push"],
                "databricks": {"host": dbx.url, "token_setting": DBX_TOKEN_SETTING,
                               "target_dir": f"/Shared/{env}/data-platform"},
                "data_factory": {"subscription_id": DEFAULT_SUBSCRIPTION, "resource_group": DEFAULT_RESOURCE_GROUP,
                                 "factory_name": f"adf-{self.prefix}-{env}",
                                 "parameters": {"factoryName": f"adf-{self.prefix}-{env}"},
                                 "arm_endpoint": arm.url, "token_setting": ARM_TOKEN_SETTING},
            } for env in self.env_names()},
        }
        self.config_path = self.workdir / "environments.json"
        self.config_path.write_text(json.dumps(config, indent=1))
        self.webhook_secret = secrets.token_urlsafe(24)
        clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("DATAOPS_")}
        self.env = {**clean, "AzureWebJobsStorage": self.azurite.connection_string,
                    "DATAOPS_CONFIG": str(self.config_path), **self.names.app_settings(),
                    "DATAOPS_LOCK_RETRY_SECONDS": str(self.lock_retry_seconds),
                    "GITHUB_WEBHOOK_SECRET": self.webhook_secret, DBX_TOKEN_SETTING: dbx.token,
                    ARM_TOKEN_SETTING: arm.token, "REQUESTS_CA_BUNDLE": str(bundle),
                    "WEBSITE_SITE_NAME": self.prefix, "PYTHONUNBUFFERED": "1",
                    "AZURE_CORE_ONLY_SHOW_ERRORS": "1",
                    # the scale-out run measures queueing, leases and locks on a machine it loads itself (3
                    # hosts, stand-ins, Azurite); the 8 s webhook answer budget has its own tests
                    # (tests/ingest/test_storage_faults.py), and a 503 within it is redelivered anyway
                    "DATAOPS_WEBHOOK_BUDGET_S": "30"}
        self.env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
        self.env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        from shared.settings import Settings
        from shared.storage import StorageAccount

        self.storage = StorageAccount.from_settings(Settings(self.env)).ensure()
        if self.defer_workers:
            self._spawn("intake", "--no-queues")
        else:
            self.start_workers()

    def _spawn(self, name: str, *args: str, wait: bool = True) -> int:
        logs = self.log_dir or self.workdir
        logs.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log = (logs / f"devhost-{self.prefix}-{name}.log").open("wb")
        self._procs.append(subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(port), "--instance-id", name, "--no-timers",
             "--message-lease", str(self.message_lease), *args],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT))
        self._ports.append(port)
        if wait:
            self._wait_up(port, time.monotonic() + 120)
        return port

    def start_workers(self) -> None:
        """Start the ``instances`` dev host processes that run the queue (and serve HTTP)."""
        ports = [self._spawn(f"i{i}", wait=False) for i in range(self.instances)]  # started together
        deadline = time.monotonic() + 120
        for port in ports:
            self._wait_up(port, deadline)

    def _wait_up(self, port: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                raise RuntimeError("a dev host instance exited at start-up (see its log)")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/deployments?limit=1", timeout=5)
                return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"dev host on port {port} did not come up")

    def stop(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self._procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs.clear()
        for s in reversed(self._standins):
            s.stop()
        self._standins.clear()

    # ---------------------------------------------------------- workload
    def make_commits(self, count: int) -> None:
        """``count`` commits alternating between ``main`` (one notebook changed) and ``adf_publish``
        (one pipeline changed); each push is delivered later by :meth:`deliver`."""
        from .localstack import commit_change

        for i in range(count):
            if i % 2 == 0:
                def edit(r: Path, i: int = i) -> None:
                    nb = sorted((r / "notebooks").rglob("*.py"))
                    p = nb[(i // 2) % len(nb)]
                    p.write_text(p.read_text() + f"\n# COMMAND ----------\n\nprint('revision {i}')\n")
                self.pushes.append(("main", *commit_change(self.repo, "main", edit, f"Notebook revision {i}")))
            else:
                def edit(r: Path, i: int = i) -> None:
                    p = r / "adf-sample" / "ARMTemplateForFactory.json"
                    t = json.loads(p.read_text())
                    pipelines = [x for x in t["resources"] if x["type"].endswith("/pipelines")]
                    pipelines[(i // 2) % len(pipelines)]["properties"]["description"] = f"revision {i}"
                    p.write_text(json.dumps(t, indent=4))
                self.pushes.append(("adf_publish", *commit_change(self.repo, "adf_publish", edit,
                                                                   f"Pipeline revision {i}")))

    def deliver(self, interval: float = 0.0, pool: Any = None) -> list[str]:
        """POST every push not delivered yet, round-robin over the instances (concurrently on ``pool``,
        an executor, when given); returns the deployment ids."""
        todo = [(n, push) for n, push in enumerate(self.pushes) if n >= self._delivered]
        self._delivered = len(self.pushes)
        if pool is not None:
            return [i for ids in pool.map(lambda item: self._deliver_one(*item), todo) for i in ids]
        out: list[str] = []
        for n, push in todo:
            out += self._deliver_one(n, push)
            if interval:
                time.sleep(interval)  # the pace of the pushes (the workload), not a wait for a result
        return out

    def _deliver_one(self, n: int, push: tuple[str, str, str]) -> list[str]:
        from shared.ingest.webhook_sources import sign_github

        from .localstack import github_push

        branch, before, after = push
        body = json.dumps(github_push(self.repo, str(self.repo), branch, before, after)).encode()
        port = self._ports[n % len(self._ports)]
        delivery = str(uuid.uuid4())
        for attempt in range(1, 6):
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/hooks/github", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                                                  "X-GitHub-Delivery": delivery,
                                                  "X-Hub-Signature-256": sign_github(self.webhook_secret, body)})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    answer = json.loads(r.read())
                    status = r.status
                break
            except urllib.error.HTTPError as exc:
                # 503: storage did not answer within the webhook's budget (an overloaded machine). The
                # sender redelivers the same delivery, as GitHub's "Redeliver" does: intake is exactly-once.
                if exc.code != 503 or attempt == 5:
                    raise
                port = self._ports[(n + attempt) % len(self._ports)]
        # a redelivery after a 503 is answered "recovered" (or "duplicate") with the same deployment ids
        if status != 202 or answer.get("status") not in ("queued", "recovered", "duplicate") \
                or not answer.get("deployments"):
            raise RuntimeError(f"webhook for {branch} {after[:8]} answered {status}: {answer}")
        return list(answer["deployments"])

    # ----------------------------------------------------------- outcome
    def deployments(self, *, details: bool = False) -> list[Deployment]:
        from shared.audit import AuditLedger
        from shared.clock import SystemClock

        ledger = AuditLedger(self.storage, SystemClock())
        out = []
        for env in self.env_names():
            for rec in ledger.iter_deployments(env):
                statuses = [d["status"] for _, d in ledger.details(rec.id, prefix="status-")] if details else []
                out.append(Deployment(rec.id, rec.environment, rec.component, rec.commit, rec.status,
                                      rec.started_at, rec.ended_at, statuses, rec.error))
        return out

    def wait_final(self, expected: int, timeout: float) -> list[Deployment]:
        """Poll the ledger until ``expected`` deployments ended (a final status), or raise."""
        from shared.audit.records import FINAL_STATUSES

        deadline = time.monotonic() + timeout
        last: list[Deployment] = []
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._procs):
                raise RuntimeError("a dev host instance exited (see its log)")
            last = self.deployments()
            if len(last) >= expected and all(d.status in FINAL_STATUSES for d in last) \
                    and self.queue_counts()[0] == 0:  # and the re-queued copies consumed
                return self.deployments(details=True)
            time.sleep(0.5)
        done = sum(d.status in FINAL_STATUSES for d in last)
        raise TimeoutError(f"{done}/{expected} deployments ended within {timeout} s")

    def queue_counts(self) -> tuple[int, int]:
        from azure.core.exceptions import ResourceNotFoundError

        counts = []
        for q in (self.names.deploy_queue, self.names.poison_queue):
            try:
                counts.append(int(self.storage.queue(q).get_queue_properties().approximate_message_count or 0))
            except ResourceNotFoundError:
                counts.append(0)
        return counts[0], counts[1]

    def commit_order(self, branch: str) -> list[str]:
        """The pushed commits of ``branch``, oldest first."""
        return [after for b, _, after in self.pushes if b == branch]

