"""Promotion, approvals, protected deletes and rollback through the orchestrator (Azurite + local git)."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from shared.release import decide, promote, request_rollback

from .helpers import PIPELINE, Flow, make_config


def _flow(repo, storage, ledger, deployer, envs=None, **kw) -> Flow:  # type: ignore[no-untyped-def]
    return Flow(make_config(repo, envs or PIPELINE), storage, ledger, deployer, **kw)


def test_one_commit_moves_dev_test_prod_and_prod_waits_for_a_person(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer)
    sha = repo.commit({"notebooks/a.py": "1"})
    dev = flow.push(sha, actor="ada")
    flow.drain()
    assert flow.get(dev.id).status == "succeeded"
    (test,) = flow.of("test")
    assert (test.status, test.trigger, test.actor, test.commit) == ("succeeded", "promotion", "ada", sha)
    assert test.extra["promoted_from"] == dev.id
    (prod,) = flow.of("prod")
    prod = flow.get(prod.id)
    assert prod.status == "waiting_approval" and prod.trigger == "promotion"
    assert prod.plan and prod.plan["counts"] == {"update": 1}  # the plan is stored for the approver
    assert "requires approval" in prod.extra["waiting_reason"]
    assert deployer.applied == [("dev", sha), ("test", sha)]
    # A request for a waiting deployment (redelivered) changes nothing.
    assert flow.drain() == []
    # Promotion happens once: the same success seen again queues nothing.
    assert promote(flow.config, ledger, flow.queue, flow.get(dev.id)) == []
    assert promote(flow.config, ledger, flow.queue, flow.get(test.id)) == []

    released = decide(ledger, flow.queue, flow.config, prod.id, approve=True, actor="bob", reason="looks good")
    assert released.status == "queued"
    flow.drain()
    prod = flow.get(prod.id)
    assert prod.status == "succeeded" and deployer.applied[-1] == ("prod", sha)
    assert prod.extra["approval"]["by"] == "bob" and prod.extra["approval"]["reason"] == "looks good"
    assert [h["status"] for h in ledger.status_history(prod.id)] == [
        "queued", "planning", "waiting_approval", "queued", "planning", "running", "succeeded"]
    (act,) = [a for a in ledger.list_activity("prod").items if a.kind == "approval"]
    assert (act.actor, act.status, act.deployment_id) == ("bob", "approved", prod.id)
    # Nothing further to promote from prod.
    assert len(flow.of("test")) == 1 and len(flow.of("prod")) == 1


def test_promotion_waits_for_every_required_environment(repo, storage, ledger, deployer):
    envs = {"dev": {"deploy_on": ["push"]}, "qa": {"deploy_on": ["push"]},
            "prod": {"deploy_on": ["promotion"], "requires": ["dev", "qa"]}}
    flow = _flow(repo, storage, ledger, deployer, envs)
    sha = repo.commit({"n.py": "1"})
    flow.push(sha, env="dev")
    flow.drain()
    assert flow.of("prod") == []  # qa has not succeeded with it yet
    flow.push(sha, env="qa")
    flow.drain()
    (prod,) = flow.of("prod")
    assert prod.status == "succeeded" and prod.commit == sha


def test_failed_deployment_is_not_promoted(repo, storage, ledger, deployer):
    deployer.fail_in = {"dev"}
    flow = _flow(repo, storage, ledger, deployer)
    flow.push(repo.commit({"n.py": "1"}))
    flow.drain()
    assert flow.of("test") == [] and flow.of("prod") == []


def _waiting_prod(flow: Flow, sha: str, actor: str = "ada"):  # type: ignore[no-untyped-def]
    rec = flow.push(sha, env="prod", actor=actor, trigger="promotion")  # as if test had passed
    flow.drain()
    rec = flow.get(rec.id)
    assert rec.status == "waiting_approval"
    return rec


def test_rejection_records_who_and_why_and_ends_the_deployment(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer)
    rec = _waiting_prod(flow, repo.commit({"n.py": "1"}))
    out = decide(ledger, flow.queue, flow.config, rec.id, approve=False, actor="carol", reason="freeze week")
    assert out.status == "rejected" and out.error == "rejected by carol: freeze week"
    got = flow.get(rec.id)
    assert got.status == "rejected" and got.extra["approval"] == {
        **got.extra["approval"], "decision": "rejected", "by": "carol", "reason": "freeze week"}
    assert flow.drain() == [] and deployer.applied == []
    (act,) = [a for a in ledger.list_activity("prod").items if a.kind == "approval"]
    assert (act.actor, act.status) == ("carol", "rejected")
    # Decided: approving or rejecting again is a conflict.
    with pytest.raises(Conflict) as err:
        decide(ledger, flow.queue, flow.config, rec.id, approve=True, actor="bob")
    assert err.value.kind == "conflict" and err.value.code == "not_waiting_approval"


def test_the_pusher_cannot_approve_their_own_change(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer)
    rec = _waiting_prod(flow, repo.commit({"n.py": "1"}), actor="Ada@Example.com")
    with pytest.raises(Forbidden) as err:
        decide(ledger, flow.queue, flow.config, rec.id, approve=True, actor="ada@example.com")
    assert err.value.kind == "forbidden" and err.value.code == "self_approval"
    assert flow.get(rec.id).status == "waiting_approval"  # nothing changed
    # ... but may withdraw it, and someone else may approve.
    with pytest.raises(Unauthorized):
        decide(ledger, flow.queue, flow.config, rec.id, approve=True, actor="  ")
    with pytest.raises(NotFound):
        decide(ledger, flow.queue, flow.config, "20260105T120000000Z-prod-notebooks-00000000",
               approve=True, actor="bob")
    decide(ledger, flow.queue, flow.config, rec.id, approve=True, actor="bob")
    flow.drain()
    assert flow.get(rec.id).status == "succeeded"


def test_self_approval_when_the_environment_allows_it(repo, storage, ledger, deployer):
    envs = {**PIPELINE, "prod": {**PIPELINE["prod"], "allow_self_approval": True}}
    flow = _flow(repo, storage, ledger, deployer, envs)
    rec = _waiting_prod(flow, repo.commit({"n.py": "1"}), actor="ada")
    assert decide(ledger, flow.queue, flow.config, rec.id, approve=True, actor="ada").status == "queued"
    flow.drain()
    assert flow.get(rec.id).status == "succeeded"


def test_a_newer_waiting_commit_supersedes_the_older_one(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer)
    old = _waiting_prod(flow, repo.commit({"n.py": "1"}))
    new = _waiting_prod(flow, repo.commit({"n.py": "2"}))
    got = flow.get(old.id)
    assert got.status == "superseded" and new.id in (got.error or "") and got.extra["superseded_by"] == new.id
    with pytest.raises(Conflict):
        decide(ledger, flow.queue, flow.config, old.id, approve=True, actor="bob")
    decide(ledger, flow.queue, flow.config, new.id, approve=True, actor="bob")
    flow.drain()
    assert flow.get(new.id).status == "succeeded" and deployer.applied == [("prod", new.commit)]


def test_an_older_commit_never_supersedes_a_newer_waiting_one(repo, storage, ledger, deployer):
    """Superseding follows the commit graph: an old SHA arriving after a newer one started waiting
    ends superseded itself, and the newer one still ships."""
    flow = _flow(repo, storage, ledger, deployer)
    old_sha, new_sha = repo.commit({"n.py": "1"}), repo.commit({"n.py": "2"})
    new = _waiting_prod(flow, new_sha)
    old = flow.push(old_sha, env="prod", trigger="promotion")
    flow.drain()
    assert flow.get(new.id).status == "waiting_approval"
    got = flow.get(old.id)
    assert got.status == "superseded" and new.id in (got.error or "")
    decide(ledger, flow.queue, flow.config, new.id, approve=True, actor="bob")
    flow.drain()
    assert flow.get(new.id).status == "succeeded" and deployer.applied == [("prod", new_sha)]


def test_diverged_waiting_commits_supersede_nothing(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer)
    base = repo.commit({"n.py": "0"})
    left = repo.commit({"n.py": "1"})
    repo.git("checkout", "-q", "-b", "other", base)
    right = repo.commit({"m.py": "1"}, branch="other")
    a, b = _waiting_prod(flow, left), _waiting_prod(flow, right)
    assert flow.get(a.id).status == "waiting_approval" and flow.get(b.id).status == "waiting_approval"


def test_protected_deletes_wait_even_where_deployment_is_automatic(repo, storage, ledger, deployer):
    envs = {"dev": {"deploy_on": ["push"], "protect_deletes": True}}
    flow = _flow(repo, storage, ledger, deployer, envs)
    sha = repo.commit({"n.py": "1"})
    ok = flow.push(sha)
    flow.drain()
    assert flow.get(ok.id).status == "succeeded"  # no deletes: no wait
    deployer.deletes = ["pl_old", "pl_older"]
    sha2 = repo.commit({"n.py": "2"})
    rec = flow.push(sha2)
    flow.drain()
    rec = flow.get(rec.id)
    assert rec.status == "waiting_approval"
    reason = rec.extra["waiting_reason"]
    assert "deletes 2 objects: pipeline pl_old, pipeline pl_older" in reason and "requires approval" not in reason
    assert rec.plan and {a["name"] for a in rec.plan["actions"] if a["action"] == "delete"} == {"pl_old", "pl_older"}
    assert deployer.applied == [("dev", sha)]
    decide(ledger, flow.queue, flow.config, rec.id, approve=True, actor="bob", reason="retired pipelines")
    flow.drain()
    assert flow.get(rec.id).status == "succeeded" and deployer.applied[-1] == ("dev", sha2)


def test_rollback_by_id_redeploys_the_last_good_commit(repo, storage, ledger, deployer):
    envs = {"dev": {"deploy_on": ["push"]}}
    flow = _flow(repo, storage, ledger, deployer, envs)
    s1, s2 = repo.commit({"n.py": "1"}), repo.commit({"n.py": "2"})
    flow.push(s1)
    flow.drain()
    bad = flow.push(s2)
    flow.drain()
    with pytest.raises(BadRequest):
        request_rollback(ledger, flow.queue, flow.config, bad.id, actor="bob", to="not-a-sha")
    rb = request_rollback(ledger, flow.queue, flow.config, bad.id, actor="bob", reason="broke the nightly")
    assert (rb.trigger, rb.rollback_of, rb.commit, rb.actor) == ("rollback", bad.id, s1, "bob")
    flow.drain()
    assert flow.get(rb.id).status == "succeeded" and deployer.applied[-1] == ("dev", s1)
    undone = flow.get(bad.id)
    assert undone.status == "rolled_back" and undone.extra["rolled_back_by"] == rb.id
    # Back to s2 explicitly with `to` (a rollback is never superseded by the newer commit in place).
    again = request_rollback(ledger, flow.queue, flow.config, rb.id, actor="bob", to=s2[:10])
    flow.drain()
    assert flow.get(again.id).status == "succeeded" and deployer.applied[-1] == ("dev", s2)


def test_rollback_needs_an_earlier_success_and_an_ended_deployment(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer, {"dev": {"deploy_on": ["push"]}})
    only = flow.push(repo.commit({"n.py": "1"}))
    with pytest.raises(Conflict) as err:
        request_rollback(ledger, flow.queue, flow.config, only.id, actor="bob")
    assert err.value.code == "not_final"
    flow.drain()
    with pytest.raises(Conflict) as err:
        request_rollback(ledger, flow.queue, flow.config, only.id, actor="bob")
    assert err.value.code == "no_rollback_target"


def test_automatic_rollback_after_a_failure_happens_once_and_never_loops(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer, {"dev": {"deploy_on": ["push"], "on_failure": "rollback"}})
    s1, s2 = repo.commit({"n.py": "1"}), repo.commit({"n.py": "2"})
    flow.push(s1)
    flow.drain()
    deployer.fail_in = {"dev"}  # s2 fails, and so will the rollback: it must not roll back the rollback
    bad = flow.push(s2)
    flow.drain()
    assert flow.get(bad.id).status == "failed"
    rollbacks = [r for r in flow.of("dev") if r.trigger == "rollback"]
    assert len(rollbacks) == 1
    (rb,) = rollbacks
    assert rb.rollback_of == bad.id and rb.commit == s1 and rb.status == "failed"
    assert rb.extra["rollback"]["automatic"] is True
    assert deployer.applied == [("dev", s1), ("dev", s2), ("dev", s1)]
    # The hook seeing the same failure again queues nothing more.
    flow.orchestrator.after_end[-1](flow.get(bad.id))
    assert flow.drain() == []


def test_automatic_rollback_restores_service(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer, {"dev": {"deploy_on": ["push"], "on_failure": "rollback"}})
    s1, s2 = repo.commit({"n.py": "1"}), repo.commit({"n.py": "2"})
    flow.push(s1)
    flow.drain()
    deployer.fail_in = {"dev"}
    bad = flow.push(s2)
    (req,) = flow.take()
    assert flow.orchestrator.run(req).status == "failed"
    deployer.fail_in = set()  # the target is healthy again for the rollback
    flow.drain()
    (rb,) = [r for r in flow.of("dev") if r.trigger == "rollback"]
    assert rb.status == "succeeded" and rb.commit == s1 and rb.actor == "dataops:auto-rollback"
    undone = flow.get(bad.id)
    assert undone.status == "failed" and undone.extra["rolled_back_by"] == rb.id  # failed stays failed


def test_no_automatic_rollback_when_nothing_changed(repo, storage, ledger, deployer):
    flow = _flow(repo, storage, ledger, deployer, {"dev": {"deploy_on": ["push"], "on_failure": "rollback"}})
    flow.push(repo.commit({"n.py": "1"}))
    flow.drain()
    # A commit that does not exist fails while loading, before any apply step.
    bad = flow.push("0" * 40)
    flow.drain()
    assert flow.get(bad.id).status == "failed"
    assert [r for r in flow.of("dev") if r.trigger == "rollback"] == []
