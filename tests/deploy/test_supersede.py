"""Never an older commit over a newer one: the supersede check compares with what is deployed
(the per-environment/component "current" record), by commit ancestry, whatever the arrival order."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

from shared.audit import AuditLedger
from shared.audit.records import DeploymentRecord
from shared.clock import SystemClock
from shared.deploy.current import CurrentDeployments
from shared.deploy.orchestrator import Orchestrator, submit
from shared.deploy.queue import DeploymentQueue
from shared.deploy.request import DeploymentRequest
from shared.settings import Settings
from shared.storage import StorageAccount

from .helpers import Deployers, LocalRepo, drain_with_workers, make_config


def _orch(storage: StorageAccount, ledger: AuditLedger, repo: LocalRepo, deployers: Deployers,
          **kw: Any) -> Orchestrator:
    return Orchestrator(make_config(str(repo.path)), storage, ledger, Settings({}), ledger.clock,
                        components=deployers.components, **kw)


def _submit(ledger: AuditLedger, storage: StorageAccount, sha: str, **kw: Any) -> DeploymentRecord:
    if hasattr(ledger.clock, "advance"):
        ledger.clock.advance(1)
    return submit(ledger, DeploymentQueue(storage), environment="dev", component="notebooks", commit=sha,
                  ref="refs/heads/main", trigger=kw.pop("trigger", "push"), seed=f"{sha}{time.monotonic()}", **kw)


def _request(rec: DeploymentRecord) -> DeploymentRequest:
    return DeploymentRequest(rec.id, rec.environment, rec.component, rec.commit, rec.ref, rec.trigger)


def _descends(repo: LocalRepo, older: str, newer: str) -> bool:
    import subprocess

    return subprocess.run(["git", "-C", str(repo.path), "merge-base", "--is-ancestor", older, newer]).returncode == 0


def test_a_success_queued_later_does_not_hide_a_newer_commit_already_deployed(storage, ledger, repo, deployers):
    """Queued c3, c1, c2; finished c1 then c3: c2 must not go over c3 (queue time said c1 was the last)."""
    c1, c2, c3 = (repo.commit({"n.py": str(i)}, message=f"c{i}") for i in (1, 2, 3))
    r3, r1, r2 = (_submit(ledger, storage, c) for c in (c3, c1, c2))
    orch = _orch(storage, ledger, repo, deployers)
    assert orch.run(_request(r1)).status == "succeeded"
    assert orch.run(_request(r3)).status == "succeeded"
    assert orch.run(_request(r2)).status == "superseded"
    assert deployers["notebooks"].applied == [c1, c3]
    assert "already deployed and contains" in (ledger.get_deployment(r2.id).error or "")
    current = CurrentDeployments(storage).get("dev", "notebooks")
    assert current is not None and current.commit == c3 and current.deployment_id == r3.id


def test_out_of_order_deliveries_with_several_workers_end_on_the_newest(storage, repo, deployers):
    """Shuffled deliveries of a linear history, three workers: never a regression, newest ends deployed."""
    ledger = AuditLedger(storage, SystemClock())
    shas = [repo.commit({"n.py": str(i)}, message=f"c{i}") for i in range(8)]
    order = list(shas)
    random.Random(16).shuffle(order)
    recs = [_submit(ledger, storage, s) for s in order]
    queue = storage.queue(storage.names.deploy_queue)
    errors = drain_with_workers(queue, ledger, recs, lambda name: _orch(
        storage, ledger, repo, deployers, lock_retry_seconds=1, holder=name), workers=3, deadline_s=90)
    assert not errors
    final = {r.commit: ledger.get_deployment(r.id) for r in recs}
    assert all(r.final for r in final.values()), [r.status for r in final.values()]
    applied = deployers["notebooks"].applied
    assert applied and applied[-1] == shas[-1], "the newest commit did not end deployed"
    for before, after in itertools.pairwise(applied):
        assert _descends(repo, before, after), f"{after[:8]} was deployed over the newer {before[:8]}"
    assert final[shas[-1]].status == "succeeded"
    assert {r.status for r in final.values()} <= {"succeeded", "superseded"}
    current = CurrentDeployments(storage).get("dev", "notebooks")
    assert current is not None and current.commit == shas[-1]


def test_a_commit_off_the_deployed_history_is_superseded_unless_forced(storage, ledger, repo, deployers):
    base = repo.commit({"n.py": "0"})
    deployed = repo.commit({"n.py": "1"})
    orch = _orch(storage, ledger, repo, deployers)
    assert orch.run(_request(_submit(ledger, storage, deployed))).status == "succeeded"
    repo.git("checkout", "-q", "-b", "rewrite", base)
    rewritten = repo.commit({"n.py": "1b"}, branch="rewrite")
    diverged = _submit(ledger, storage, rewritten)
    assert orch.run(_request(diverged)).status == "superseded"
    assert "not a descendant of the deployed" in (ledger.get_deployment(diverged.id).error or "")
    # A force-push that replaced exactly the deployed commit knowingly rewrote it: it deploys.
    pushed = _submit(ledger, storage, rewritten, extra={"forced": True, "before": deployed})
    assert orch.run(_request(pushed)).status == "succeeded"
    assert CurrentDeployments(storage).get("dev", "notebooks").commit == rewritten  # type: ignore[union-attr]
    # An explicitly forced deployment of an older commit goes through and becomes current.
    forced = _submit(ledger, storage, base, force=True)
    assert orch.run(DeploymentRequest(forced.id, "dev", "notebooks", base, "", "manual", {}, True)).status \
        == "succeeded"
    assert CurrentDeployments(storage).get("dev", "notebooks").commit == base  # type: ignore[union-attr]
