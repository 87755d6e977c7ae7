"""The orchestrator against Azurite, a local git repository and a deployer of our own."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from shared.audit import AuditLedger
from shared.audit.records import DeploymentRecord
from shared.clock import SystemClock
from shared.deploy.lock import LeaseLock
from shared.deploy.orchestrator import GateInput, Hold, Orchestrator, record_poisoned, rollback_target, submit
from shared.deploy.queue import DeploymentQueue
from shared.deploy.request import DeploymentRequest
from shared.errors import Conflict, DataOpsError, Throttled, Unavailable
from shared.settings import Settings
from shared.storage import StorageAccount

from .helpers import Deployers, LocalRepo, drain_with_workers, make_config


def _orch(storage: StorageAccount, ledger: AuditLedger, repo: LocalRepo, deployers: Deployers,
          **kw: Any) -> Orchestrator:
    return Orchestrator(make_config(str(repo.path)), storage, ledger, Settings({}), ledger.clock,
                        components=deployers.components, **kw)


def _submit(ledger: AuditLedger, storage: StorageAccount, sha: str, env: str = "dev",
            component: str = "notebooks", **kw: Any) -> DeploymentRecord:
    return submit(ledger, DeploymentQueue(storage), environment=env, component=component, commit=sha,
                  ref="refs/heads/main", trigger=kw.pop("trigger", "push"), seed=sha + str(time.monotonic()), **kw)


def _take(storage: StorageAccount) -> list[DeploymentRequest]:
    q = storage.queue(storage.names.deploy_queue)
    out = []
    for m in q.receive_messages(max_messages=32, visibility_timeout=60):
        out.append(DeploymentRequest.from_bytes(m.content))
        q.delete_message(m)
    return out


def test_push_deployment_runs_to_succeeded_with_plan_steps_and_objects(storage, ledger, repo, deployers):
    sha = repo.commit({"notebooks/a.py": "# Databricks notebook source\n1", "notebooks/b.sql": "x"})
    rec = _submit(ledger, storage, sha, actor="ada")
    (req,) = _take(storage)
    outcome = _orch(storage, ledger, repo, deployers).run(req)
    assert outcome.status == "succeeded"
    got = ledger.get_deployment(rec.id)
    assert got.status == "succeeded" and got.started_at and got.ended_at
    assert got.plan and got.plan["counts"] == {"update": 2}
    assert got.summary["succeeded"] == 2 and got.commit_time is not None
    assert [s["name"] for s in ledger.steps(rec.id)] == ["plan", "apply"]
    assert {o.name for o in ledger.objects(rec.id)} == {"notebooks/a.py", "notebooks/b.sql"}
    assert [h["status"] for h in ledger.status_history(rec.id)] == ["queued", "planning", "running", "succeeded"]
    assert deployers["notebooks"].applied == [sha]


def test_failed_apply_is_recorded_failed_with_the_error(storage, ledger, repo, deployers):
    deployers["notebooks"].fail = True
    sha = repo.commit({"n.py": "x"})
    rec = _submit(ledger, storage, sha)
    assert _orch(storage, ledger, repo, deployers).run(_take(storage)[0]).status == "failed"
    got = ledger.get_deployment(rec.id)
    assert got.status == "failed" and got.error == "target refused"


def test_older_commit_is_superseded_by_the_commit_graph(storage, ledger, repo, deployers):
    old = repo.commit({"n.py": "1"})
    new = repo.commit({"n.py": "2"})
    orch = _orch(storage, ledger, repo, deployers)
    newer = _submit(ledger, storage, new)
    assert orch.run(_take(storage)[0]).status == "succeeded"
    older = _submit(ledger, storage, old)
    assert orch.run(_take(storage)[0]).status == "superseded"
    got = ledger.get_deployment(older.id)
    assert got.status == "superseded" and new[:12] in (got.error or "") and newer.id in (got.error or "")
    assert deployers["notebooks"].applied == [new]
    # A newer commit over an older one deploys; so does a commit on a diverged history (not an ancestor).
    newest = repo.commit({"n.py": "3"})
    _submit(ledger, storage, newest)
    assert orch.run(_take(storage)[0]).status == "succeeded"


def test_rollback_redeploys_an_older_commit_without_being_superseded(storage, ledger, repo, deployers):
    old = repo.commit({"n.py": "1"})
    new = repo.commit({"n.py": "2"})
    orch = _orch(storage, ledger, repo, deployers)
    for sha in (old, new):
        ledger.clock.advance(1)
        _submit(ledger, storage, sha)
        assert orch.run(_take(storage)[0]).status == "succeeded"
    target = rollback_target(ledger, "dev", "notebooks")
    assert target is not None and target.commit == old
    ledger.clock.advance(1)
    rb = _submit(ledger, storage, old, trigger="rollback")
    assert orch.run(_take(storage)[0]).status == "succeeded"
    assert ledger.get_deployment(rb.id).trigger == "rollback"


def test_redelivered_request_of_a_finished_deployment_changes_nothing(storage, ledger, repo, deployers):
    sha = repo.commit({"n.py": "1"})
    _submit(ledger, storage, sha)
    (req,) = _take(storage)
    orch = _orch(storage, ledger, repo, deployers)
    assert orch.run(req).status == "succeeded"
    assert orch.run(req).status == "succeeded"
    assert deployers["notebooks"].applied == [sha]


def test_lock_taken_puts_the_request_back_with_a_delay(storage, ledger, repo, deployers):
    sha = repo.commit({"n.py": "1"})
    rec = _submit(ledger, storage, sha)
    (req,) = _take(storage)
    other = LeaseLock(storage, "dev", "notebooks", duration=15)
    assert other.try_acquire("someone-else")
    try:
        outcome = _orch(storage, ledger, repo, deployers, lock_retry_seconds=30).run(req)
    finally:
        other.release()
    assert outcome.status == "waiting_lock" and outcome.requeued_after == 30
    assert ledger.get_deployment(rec.id).status == "waiting_lock"
    # The copy is invisible for the delay: nothing to take now, and it is not failed.
    assert _take(storage) == []
    assert storage.queue(storage.names.deploy_queue).get_queue_properties().approximate_message_count == 1


def test_two_workers_on_one_environment_never_overlap(storage, azurite, repo, deployers):
    """Several requests, two workers pulling from the queue at once: apply intervals never overlap."""
    ledger = AuditLedger(storage, SystemClock())
    deployers["notebooks"].work_seconds = 0.3
    shas = [repo.commit({"n.py": str(i)}, message=f"c{i}") for i in range(4)]
    recs = [_submit(ledger, storage, s) for s in shas]
    queue = storage.queue(storage.names.deploy_queue)
    errors = drain_with_workers(queue, ledger, recs, lambda name: _orch(
        storage, ledger, repo, deployers, lock_retry_seconds=1, holder=name), workers=2, deadline_s=60)
    assert not errors
    final = [ledger.get_deployment(r.id) for r in recs]
    assert all(r.final for r in final), [r.status for r in final]
    ran = sorted((r.started_at, r.ended_at) for r in final if r.started_at)
    assert len(ran) >= 2
    for (_, end_a), (start_b, _) in itertools.pairwise(ran):
        assert end_a <= start_b, "two deployments of dev/notebooks overlapped"
    # The newest commit is what ends deployed; older ones either ran before it or were superseded.
    assert final[-1].status == "succeeded"
    assert {r.status for r in final} <= {"succeeded", "superseded"}


def test_dead_workers_lease_expires_and_its_deployment_is_recorded_failed(storage, repo, deployers):
    ledger = AuditLedger(storage, SystemClock())
    sha = repo.commit({"n.py": "1"})
    orphan = _submit(ledger, storage, sha)
    _take(storage)
    ledger.transition(orphan.id, "running")
    # The dead worker: a 15 s lease that nobody renews or releases.
    blob = storage.container(storage.names.lock_container).get_blob_client("dev/notebooks")
    blob.upload_blob(b"", overwrite=True)
    blob.acquire_lease(lease_duration=15)
    sha2 = repo.commit({"n.py": "2"})
    rec = _submit(ledger, storage, sha2)
    (req,) = _take(storage)
    orch = _orch(storage, ledger, repo, deployers, lock_retry_seconds=1)
    assert orch.run(req).status == "waiting_lock"
    deadline = time.monotonic() + 40
    outcome = None
    while time.monotonic() < deadline:
        reqs = _take(storage)
        if reqs:
            outcome = orch.run(reqs[0])
            if outcome.status != "waiting_lock":
                break
        threading.Event().wait(0.5)
    assert outcome is not None and outcome.status == "succeeded"
    dead = ledger.get_deployment(orphan.id)
    assert dead.status == "failed" and "stopped mid-way" in (dead.error or "")
    assert ledger.get_deployment(rec.id).status == "succeeded"


def test_own_deployment_left_running_is_recorded_failed(storage, ledger, repo, deployers):
    sha = repo.commit({"n.py": "1"})
    rec = _submit(ledger, storage, sha)
    (req,) = _take(storage)
    ledger.transition(rec.id, "running")  # a previous attempt died mid-apply
    assert _orch(storage, ledger, repo, deployers).run(req).status == "failed"
    assert deployers["notebooks"].applied == []


def test_transient_error_goes_back_to_queued_then_poison_records_failed(storage, ledger, repo, deployers):
    deployers["notebooks"].raise_in_plan = Unavailable("git host down", code="git_unavailable")
    sha = repo.commit({"n.py": "1"})
    rec = _submit(ledger, storage, sha)
    (req,) = _take(storage)
    orch = _orch(storage, ledger, repo, deployers)
    for _ in range(2):
        try:
            orch.run(req)
        except Unavailable:
            pass
        else:
            raise AssertionError("a transient error must reach the queue (retry)")
        assert ledger.get_deployment(rec.id).status == "queued"
    assert record_poisoned(ledger, req.to_bytes(), "moved to the poison queue") == rec.id
    got = ledger.get_deployment(rec.id)
    assert got.status == "failed" and got.error == "moved to the poison queue"
    assert record_poisoned(ledger, b"not json", "x") is None


def test_gate_holds_and_after_end_hook_runs(storage, ledger, repo, deployers):
    sha = repo.commit({"n.py": "1"})
    rec = _submit(ledger, storage, sha)
    (req,) = _take(storage)
    seen: list[str] = []

    def gate(g: GateInput) -> Hold | None:
        return Hold("waiting_approval", "prod needs a person") if not g.request.force else None

    orch = _orch(storage, ledger, repo, deployers, gates=[gate], after_end=[lambda r: seen.append(r.status)])
    out = orch.run(req)
    assert out.status == "waiting_approval" and out.plan is not None
    got = ledger.get_deployment(rec.id)
    assert got.status == "waiting_approval" and got.plan is not None and seen == []
    assert got.extra["waiting_reason"] == "prod needs a person"
    # Released (issue 9 re-queues it forced after approval): runs to the end, the hook sees it.
    ledger.update_deployment(rec.id, status="queued")
    assert orch.run(DeploymentRequest(**{**req.__dict__, "force": True})).status == "succeeded"
    assert seen == ["succeeded"]


def test_unknown_commit_fails_with_the_reason(storage, ledger, repo, deployers):
    repo.commit({"n.py": "1"})
    rec = _submit(ledger, storage, "f" * 40)
    assert _orch(storage, ledger, repo, deployers).run(_take(storage)[0]).status == "failed"
    assert "unknown_ref" in (ledger.get_deployment(rec.id).error or "")


class _DomainRetryable(DataOpsError):
    """A kind the orchestrator has never heard of, retryable: retried by ``retryable``, not by a status."""

    kind, code, retryable = "custom", "custom_transient", True


def test_retry_is_decided_by_the_error_kind_not_a_status(storage, ledger, repo, deployers):
    orch = _orch(storage, ledger, repo, deployers)
    for err in (Throttled("slow down", retry_after=5), _DomainRetryable("try later")):
        deployers["notebooks"].raise_in_plan = err
        rec = _submit(ledger, storage, repo.commit({"n.py": err.code}))
        (req,) = _take(storage)
        with pytest.raises(type(err)):
            orch.run(req)
        assert ledger.get_deployment(rec.id).status == "queued"
    deployers["notebooks"].raise_in_plan = Conflict("the target says no", code="target_conflict")
    rec = _submit(ledger, storage, repo.commit({"n.py": "final"}))
    (req,) = _take(storage)
    assert orch.run(req).status == "failed"
    got = ledger.get_deployment(rec.id)
    assert got.error == "target_conflict: the target says no"
    assert got.error_details == {"code": "target_conflict", "kind": "conflict"}
