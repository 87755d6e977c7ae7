"""SIGKILL of the Functions host in the middle of an ADF deployment: the next holder puts the triggers back.

A real dev host process (``python -m devhost``) runs the queue worker against Azurite and the ARM
stand-in (HTTPS). Its deployment stops the changed trigger and starts an ARM deployment that does
not finish; the test kills the host with SIGKILL. The next holder of the lock (here the test
process, once the dead worker's lease expired) finds the deployment left ``running``, starts the
triggers its audit says were stopped, and records it ``failed`` with what it restored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from devhost.azurite import Azurite, free_port
from shared.audit.ledger import AuditLedger
from shared.clock import SystemClock
from shared.config import load_config
from shared.deploy.lifecycle import Opening, open_deployment
from shared.deploy.orchestrator import Orchestrator
from shared.deploy.queue import DeploymentQueue
from shared.deploy.request import DeploymentRequest
from shared.settings import Settings
from shared.storage import StorageAccount
from tests.deploy.helpers import LocalRepo

from .helpers import base_resources, res, schedule_trigger, template

ROOT = Path(__file__).resolve().parents[2]


def _wait(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the host exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_deployment_then_recovery_restarts_the_stopped_triggers(
        arm_standin: Any, arm_factory_name: str, azurite: Azurite, storage: StorageAccount, tmp_path: Path) -> None:
    import json

    repo = LocalRepo(tmp_path / "data-platform")
    repo.commit({"README.md": "x"})
    first = repo.commit({"ARMTemplateForFactory.json": json.dumps(template(base_resources()))},
                        branch="adf_publish")
    changed = base_resources()
    changed[5] = res("triggers", "tr_hourly", schedule_trigger("pl_parent", 4))  # stops tr_hourly
    second = repo.commit({"ARMTemplateForFactory.json": json.dumps(template(changed))}, branch="adf_publish")
    target = arm_standin.target(arm_factory_name, parameters={"ls_blob_sasToken": "sv=1&sig=x"})
    cfg_path = tmp_path / "environments.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "repository": {"provider": "local", "url": str(repo.path)},
        "environments": {"dev": {"deploy_on": ["manual"],
                                 "data_factory": target.model_dump(exclude_none=True)}}}))
    config = load_config(cfg_path)
    env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string,
           **storage.names.app_settings(), "DATAOPS_CONFIG": str(cfg_path),
           **arm_standin.settings().environ}
    settings = Settings(env)
    ledger = AuditLedger(storage, SystemClock())
    orchestrator = Orchestrator(config, storage, ledger, settings, SystemClock(), lock_duration=15)

    # The factory as it is before: the first commit deployed, every trigger as the template says.
    arm_standin.create_factory(arm_factory_name)
    rec = open_deployment(ledger, None, Opening("dev", "adf", first, "manual", ref="refs/heads/adf_publish"))
    assert orchestrator.run(DeploymentRequest(rec.id, "dev", "adf", first)).status == "succeeded"
    before = {t: arm_standin.trigger_state(arm_factory_name, t) for t in ("tr_hourly", "tr_daily", "tr_paused")}
    assert before == {"tr_hourly": "Started", "tr_daily": "Started", "tr_paused": "Stopped"}

    # The host runs the second commit; its ARM deployment never finishes.
    arm_standin.deployments.deploy_delay_s = 3600
    log = (tmp_path / "host.log").open("wb")
    host = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(free_port()), "--no-timers"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        rec = open_deployment(ledger, DeploymentQueue(storage),
                              Opening("dev", "adf", second, "manual", ref="refs/heads/adf_publish"))
        _wait("the host to stop tr_hourly and start the ARM deployment",
              lambda: arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Stopped"
              and ledger.get_deployment(rec.id).status == "running"
              and any(s["name"] == "stop_triggers" and s["status"] == "succeeded" for s in ledger.steps(rec.id)),
              90, host)
        time.sleep(0.5)  # inside the ARM deployment's polling
        host.send_signal(signal.SIGKILL)
        host.wait(10)
    finally:
        if host.poll() is None:
            host.kill()
        log.close()
    assert ledger.get_deployment(rec.id).status == "running"  # what a dead worker leaves behind
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Stopped"
    arm_standin.deployments.deploy_delay_s = 0.1

    # The next holder: its request (a redelivery after the visibility timeout) waits for the dead
    # worker's lease to expire, then recovers.
    request = DeploymentRequest(rec.id, "dev", "adf", second)
    outcome = _wait("the lock to be free and the recovery to run",
                    lambda: (o := orchestrator.run(request)).status != "waiting_lock" and o, 90)
    assert outcome.status == "failed"
    final = ledger.get_deployment(rec.id)
    assert final.status == "failed" and "stopped mid-way" in (final.error or "")
    assert "restored 1 trigger(s)" in (final.error or "") and "tr_hourly" in (final.error or "")
    assert final.error_details and final.error_details["recovery"]["restored"] == ["tr_hourly"]
    after = {t: arm_standin.trigger_state(arm_factory_name, t) for t in before}
    assert after == before  # the triggers are back as they were
    recovered = [o for o in ledger.objects(rec.id) if o.action == "start" and o.status == "succeeded"]
    assert [o.name for o in recovered] == ["tr_hourly"]
