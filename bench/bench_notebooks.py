"""Notebook deployment against the Databricks stand-in: 500 notebooks, mixed languages, nested folders.

Reference: the legacy ``databricks workspace import_dir -o`` (PyPI ``databricks-cli``), installed
by this benchmark in its own venv under ``bench/.cache/legacy``, against the same stand-in. The
legacy CLI drops the port from ``DATABRICKS_HOST``, so the stand-in listens on 127.0.0.2:80
(needs root or CAP_NET_BIND_SERVICE). Sync state lives in Azurite.

Run alone: ``.venv/bin/python -m bench.bench_notebooks``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost.azurite import start_azurite  # noqa: E402
from devhost.standins.databricks import DatabricksStandIn  # noqa: E402
from shared.audit import AuditLedger  # noqa: E402
from shared.clock import SystemClock  # noqa: E402
from shared.config import DatabricksSource, Environment, PlatformConfig, Repository  # noqa: E402
from shared.deploy.model import ApplyResult, DeployContext, Plan  # noqa: E402
from shared.git.snapshot import CommitSnapshot  # noqa: E402
from shared.notebooks.deployer import NotebookDeployer  # noqa: E402
from shared.settings import StorageNames  # noqa: E402
from shared.storage import StorageAccount  # noqa: E402

N = 500
LATENCY_S = 0.05
RATE = 30.0
PARALLEL = 32  # databricks.max_parallel for the unthrottled runs (config allows 1..64; default 16)
HOST, PORT = "127.0.0.2", 80
LEGACY = ROOT / "bench" / ".cache" / "legacy"
HEADERS = {"py": "# Databricks notebook source\n", "sql": "-- Databricks notebook source\n",
           "scala": "// Databricks notebook source\n", "r": "# Databricks notebook source\n"}
BODY = {"py": "df = spark.range({i})\ndisplay(df)\n", "sql": "SELECT {i} AS n\n",
        "scala": "val n = {i}\nprintln(n)\n", "r": "n <- {i}\nprint(n)\n"}


def synthetic_repo(n: int = N) -> dict[str, bytes]:
    """``n`` notebooks in nested folders (domain/area/...), mixed languages; relative paths."""
    files: dict[str, bytes] = {}
    langs = ["py", "py", "sql", "scala", "r"]
    for i in range(n):
        ext = langs[i % len(langs)]
        folder = f"domain{i % 5}/area{(i // 5) % 5}" + (f"/deep{i % 3}" if i % 2 else "")
        body = BODY[ext].format(i=i) + ("# COMMAND ----------\n" if ext != "sql" else "")
        files[f"{folder}/nb_{i:04d} {ext}.{ext}"] = (HEADERS[ext] + body).encode()
    return files


def legacy_cli() -> Path:
    """The legacy CLI in its own venv (installed once, cached under bench/.cache/)."""
    exe = LEGACY / "bin" / "databricks"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LEGACY)], check=True)
        subprocess.run([str(LEGACY / "bin" / "pip"), "install", "-q", "databricks-cli==0.18.0"], check=True)
    return exe


def import_dir(standin: DatabricksStandIn, src: Path, target: str) -> float:
    env = {**os.environ, "DATABRICKS_HOST": f"http://{HOST}", "DATABRICKS_TOKEN": standin.token,
           "DATABRICKS_CONFIG_FILE": str(LEGACY / "databrickscfg")}
    t0 = time.perf_counter()
    subprocess.run([str(legacy_cli()), "workspace", "import_dir", "-o", str(src), target], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


class Harness:
    def __init__(self, standin: DatabricksStandIn, storage: StorageAccount) -> None:
        self.standin, self.storage = standin, storage
        self.ledger = AuditLedger(storage)

    def context(self, files: dict[str, bytes], target_dir: str, sha: str, **kw: Any) -> DeployContext:
        config = PlatformConfig(repository=Repository(url="https://github.com/contoso/data-platform"),
                                databricks=DatabricksSource(source_dir="notebooks"),
                                environments={"dev": Environment(databricks=self.standin.target(target_dir, **kw))})
        snap = CommitSnapshot(sha, {f"notebooks/{k}": v for k, v in files.items()})
        return DeployContext(config, "dev", snap, settings=self.standin.settings(), clock=SystemClock(),
                             storage=self.storage, ledger=self.ledger,
                             deployment_id=self.ledger.new_deployment_id("dev", "notebooks", sha + target_dir))

    def deploy(self, files: dict[str, bytes], target_dir: str, sha: str, **kw: Any) -> tuple[float, Plan, ApplyResult]:
        """Plan + apply with a fresh deployer (a fresh worker): wall time of both."""
        ctx = self.context(files, target_dir, sha, **kw)
        t0 = time.perf_counter()
        d = NotebookDeployer()
        plan = d.plan(ctx)
        result = d.apply(ctx, plan)
        return time.perf_counter() - t0, plan, result


def all_correct(standin: DatabricksStandIn, files: dict[str, bytes], target_dir: str) -> bool:
    for rel, data in files.items():
        path = f"{target_dir}/{rel.rsplit('.', 1)[0]}"
        if not standin.exists(path) or standin.read_source(path).strip() != data.strip():
            return False
    return True


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    legacy_cli()
    import databricks.sdk  # noqa: F401  -- a worker has it loaded after its first deployment
    azurite = start_azurite()
    standin = DatabricksStandIn(host=HOST, port=PORT).start()
    try:
        storage = StorageAccount(connection_string=azurite.connection_string,
                                 names=StorageNames(prefix="b" + uuid.uuid4().hex[:10])).ensure()
        h = Harness(standin, storage)
        files = synthetic_repo()
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp)
            for rel, data in files.items():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                (src / rel).write_bytes(data)

            # 1. full first sync at 50 ms latency
            standin.faults.add(r"^workspace\.", latency_s=LATENCY_S)
            ref = import_dir(standin, src, "/Shared/legacy")
            ours, plan, result = h.deploy(files, "/Shared/ours", "a" * 40, max_parallel=PARALLEL)
            ok = result.status == "succeeded" and all_correct(standin, files, "/Shared/ours")
            rows.append({"benchmark": "notebooks: first sync of 500 @50ms vs import_dir -o", "ours": ours,
                         "reference": ref, "ratio": ours / ref, "target": "<= 0.1", "unit": "s",
                         "note": f"{plan.counts()} {result.status}, all correct={ok}, max_parallel={PARALLEL}"})

            # 3. one notebook changed, fresh worker
            changed = dict(files)
            key = sorted(changed)[123]
            changed[key] = changed[key] + b"# changed\n"
            before = standin.counters.count("workspace.import")
            ours1, plan1, result1 = h.deploy(changed, "/Shared/ours", "b" * 40, max_parallel=PARALLEL)
            calls = standin.counters.count("workspace.import") - before
            rows.append({"benchmark": "notebooks: 1 changed, fresh worker @50ms vs import_dir -o", "ours": ours1,
                         "reference": ref, "ratio": ours1 / ref, "target": "<= 0.05 and 1 import",
                         "unit": "s", "note": f"import calls={calls}, {plan1.counts()} {result1.status}"})

            # 2. rate limit 30 imports/s, no added latency
            standin.faults.clear()
            standin.faults.add(r"^workspace\.import$", rate_per_s=RATE)
            standin.counters.reset()
            ours2, _plan2, result2 = h.deploy(files, "/Shared/ratelimited", "c" * 40)
            floor = N / RATE
            rows.append({"benchmark": "notebooks: 500 @30 imports/s vs floor 500/30 s", "ours": ours2,
                         "reference": floor, "ratio": ours2 / floor, "target": "<= 1.15, 0 failures",
                         "unit": "s", "note": f"{result2.status}, failed={result2.summary().get('failed', 0)}, "
                                              f"429s={standin.counters.count('workspace.import', 429)}"})

            # 4. 20% injected 503s on imports (50 ms latency)
            standin.faults.clear()
            standin.faults.add(r"^workspace\.", latency_s=LATENCY_S)
            standin.faults.add(r"^workspace\.import$", error_rate=0.2, error_statuses=(503,))
            standin.counters.reset()
            ours3, _plan3, result3 = h.deploy(files, "/Shared/flaky", "d" * 40, max_parallel=PARALLEL)
            ok3 = result3.status == "succeeded" and all_correct(standin, files, "/Shared/flaky")
            rows.append({"benchmark": "notebooks: 500 with 20% 503s @50ms vs clean first sync", "ours": ours3,
                         "reference": ours, "ratio": ours3 / ours, "target": "completes, all correct",
                         "unit": "s", "note": f"{result3.status}, all correct={ok3}, "
                                              f"503s={standin.counters.count('workspace.import', 503)}"})
    finally:
        standin.stop()
        azurite.stop()
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['benchmark']:<62} ours={row['ours']:.3f}{row['unit']} ref={row['reference']:.3f}"
              f"{row['unit']} ratio={row['ratio']:.3f} target {row['target']}  {row['note']}")
