"""Environment schedules: full stop and full start of a large environment, parallel vs one call at a time.

200 ADF triggers, 50 interactive clusters, 20 SQL warehouses and 100 scheduled
jobs, every stand-in request delayed 100 ms. "ours" is the product's
stop+start with its default bound (16 calls at once); the reference is the
same code with a bound of 1 (one call at a time, as a script looping over the
resources would do), measured in the same run. Both include listing, the
environment locks and the audit records (Azurite).

Run alone: ``python -m bench.bench_schedules``.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

N_TRIGGERS, N_CLUSTERS, N_WAREHOUSES, N_JOBS = 200, 50, 20, 100
LATENCY_S = 0.1
PARALLEL = 16


def _trigger(i: int) -> dict[str, Any]:
    return {"type": "ScheduleTrigger",
            "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1 + i % 12,
                                              "startTime": "2026-01-01T00:00:00Z", "timeZone": "UTC"}},
            "pipelines": [{"pipelineReference": {"referenceName": "pl", "type": "PipelineReference"}}]}


def run() -> list[dict[str, Any]]:
    import trustme

    from devhost.azurite import start_azurite
    from devhost.standins.arm import (
        DEFAULT_RESOURCE_GROUP,
        DEFAULT_SUBSCRIPTION,
        ArmStandIn,
        server_ssl_context,
    )
    from devhost.standins.databricks import DatabricksStandIn
    from shared.audit import AuditLedger
    from shared.clock import SystemClock
    from shared.config import DatabricksTarget, DataFactoryTarget, Environment, Schedule
    from shared.schedules.control import EnvironmentControl
    from shared.schedules.targets import EnvironmentTargets
    from shared.settings import Settings, StorageNames
    from shared.storage import StorageAccount

    ca = trustme.CA()
    az = start_azurite()
    arm = dbx = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            arm = ArmStandIn(token="bench-" + secrets.token_urlsafe(8),
                             ssl_context=server_ssl_context(ca, ["127.0.0.1", "localhost"]),
                             transition_s=0.0, deploy_delay_s=0.0, poll_ms=20).start()
            dbx = DatabricksStandIn(delay_s=0.0).start()
            arm.create_factory("bench-f")
            arm.put_object("bench-f", "pipelines", "pl", {"activities": []})
            for i in range(N_TRIGGERS):
                arm.put_object("bench-f", "triggers", f"t{i:03d}", _trigger(i), runtime_state="Started")
            for i in range(N_CLUSTERS):
                dbx.add_cluster(f"cluster-{i:02d}")
            for i in range(N_WAREHOUSES):
                dbx.add_warehouse(f"warehouse-{i:02d}")
            for i in range(N_JOBS):
                dbx.add_job(f"job-{i:03d}")
            env = Environment(
                data_factory=DataFactoryTarget(subscription_id=DEFAULT_SUBSCRIPTION,
                                               resource_group=DEFAULT_RESOURCE_GROUP, factory_name="bench-f",
                                               arm_endpoint=arm.url, token_setting="ARM_TOKEN"),
                databricks=DatabricksTarget(host=dbx.url, token_setting="DBX_TOKEN", target_dir="/Shared/x"),
                schedule=Schedule())
            settings = Settings({"ARM_TOKEN": arm.token, "DBX_TOKEN": dbx.token,
                                 "REQUESTS_CA_BUNDLE": str(bundle)})
            storage = StorageAccount(connection_string=az.connection_string,
                                     names=StorageNames("benchsched")).ensure()
            ledger = AuditLedger(storage, SystemClock())
            total = N_TRIGGERS + N_CLUSTERS + N_WAREHOUSES + N_JOBS

            def round_trip(bound: int) -> float:
                targets = EnvironmentTargets("bench", env, settings, factory_options={"poll_interval": 0.02})
                control = EnvironmentControl("bench", env, settings=settings, storage=storage, ledger=ledger,
                                             clock=SystemClock(), targets=targets, max_parallel=bound)
                control.observe()  # warm up clients, connections and tokens (not timed)
                arm.faults.add(".*", latency_s=LATENCY_S)
                dbx.faults.add(".*", latency_s=LATENCY_S)
                try:
                    t0 = time.perf_counter()
                    stop = control.run("stop", actor="bench")
                    start = control.run("start", actor="bench")
                    elapsed = time.perf_counter() - t0
                finally:
                    arm.faults.clear()
                    dbx.faults.clear()
                changed = sum(o.status == "succeeded" for o in stop.outcomes)
                restored = sum(o.status == "succeeded" for o in start.outcomes)
                if (stop.status, start.status, changed, restored) != ("succeeded", "succeeded", total, total):
                    raise RuntimeError(f"bound {bound}: stop {stop.status} {changed}/{total}, "
                                       f"start {start.status} {restored}/{total}")
                return elapsed

            ours = round_trip(PARALLEL)
            reference = round_trip(1)
    finally:
        for server in (arm, dbx):
            if server is not None:
                server.stop()
        az.stop()
    return [{"benchmark": f"schedules: stop+start {N_TRIGGERS} triggers, {N_CLUSTERS} clusters, "
                          f"{N_WAREHOUSES} warehouses, {N_JOBS} jobs @100ms, parallel vs one at a time",
             "ours": ours, "reference": reference, "ratio": ours / reference, "target": "<= 0.15", "unit": "s",
             "note": f"bound {PARALLEL} vs 1; includes listing, locks and audit records"}]


if __name__ == "__main__":
    for row in run():
        print(row)
