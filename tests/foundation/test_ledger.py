"""The audit ledger on Azurite: idempotent, newest first, windows, continuation, big payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.audit import Activity, AuditLedger, CommitInfo, DeploymentRecord, ObjectResult, StepRecord
from shared.clock import FakeClock
from shared.errors import BadRequest, Conflict, NotFound


def new(ledger: AuditLedger, clock: FakeClock, env: str = "dev", component: str = "adf", seed: str = "s",
        **kw: object) -> DeploymentRecord:
    did = ledger.new_deployment_id(env, component, seed)
    rec, created = ledger.create_deployment(DeploymentRecord(id=did, environment=env, component=component,
                                                             commit=str(kw.pop("commit", "a" * 40)), **kw))  # type: ignore[arg-type]
    assert created
    return rec


def test_create_is_idempotent(ledger: AuditLedger, clock: FakeClock) -> None:
    rec = new(ledger, clock, actor="alice")
    again, created = ledger.create_deployment(DeploymentRecord(id=rec.id, environment="dev", component="adf",
                                                                commit="b" * 40))
    assert not created
    assert again.commit == "a" * 40 and again.actor == "alice"
    assert ledger.list_deployments("dev").items[0].id == rec.id
    assert len(ledger.list_deployments("dev").items) == 1


def test_transitions_are_recorded_and_final_status_is_final(ledger: AuditLedger, clock: FakeClock) -> None:
    rec = new(ledger, clock)
    clock.advance(5)
    ledger.transition(rec.id, "running")
    clock.advance(10)
    done = ledger.transition(rec.id, "succeeded", summary={"created": 2})
    assert done.started_at is not None and done.ended_at is not None
    assert done.duration_seconds == 10
    assert [h["status"] for h in ledger.status_history(rec.id)] == ["queued", "running", "succeeded"]
    with pytest.raises(Conflict):
        ledger.transition(rec.id, "failed")
    assert ledger.get_deployment(rec.id).status == "succeeded"


def test_newest_first_with_continuation(ledger: AuditLedger, clock: FakeClock) -> None:
    ids = []
    for i in range(7):
        clock.advance(60)
        ids.append(new(ledger, clock, seed=str(i)).id)
    seen: list[str] = []
    token = None
    while True:
        page = ledger.list_deployments("dev", limit=3, continuation=token)
        seen += [r.id for r in page.items]
        token = page.continuation
        if not token:
            break
    assert seen == list(reversed(ids))


def test_time_window_and_filters(ledger: AuditLedger, clock: FakeClock) -> None:
    start = clock.now()
    recs = []
    for i in range(6):
        clock.advance(hours=24)
        recs.append(new(ledger, clock, component="adf" if i % 2 else "notebooks", seed=str(i), actor=f"dev{i % 3}"))
    window = ledger.list_deployments("dev", since=start + timedelta(days=2), until=start + timedelta(days=4))
    assert [r.id for r in window.items] == [recs[3].id, recs[2].id, recs[1].id]
    assert {r.component for r in ledger.list_deployments("dev", component="adf").items} == {"adf"}
    assert {r.actor for r in ledger.list_deployments("dev", actor="dev1").items} == {"dev1"}
    assert ledger.list_deployments("test").items == []


def test_many_environments_merge_newest_first(ledger: AuditLedger, clock: FakeClock) -> None:
    order = []
    for i, env in enumerate(["dev", "test", "dev", "prod", "test"]):
        clock.advance(30)
        order.append(new(ledger, clock, env=env, seed=str(i)).id)
    page = ledger.list_many(["dev", "test", "prod"], limit=3)
    assert [r.id for r in page.items] == list(reversed(order))[:3]
    rest = ledger.list_many(["dev", "test", "prod"], limit=3, continuation=page.continuation)
    assert [r.id for r in rest.items] == list(reversed(order))[3:]


def test_large_plan_goes_to_a_blob(ledger: AuditLedger, clock: FakeClock) -> None:
    rec = new(ledger, clock)
    plan = {"actions": [{"action": "create", "name": f"/Shared/n{i:05d}", "reason": "new in Git"}
                        for i in range(5000)]}
    ledger.transition(rec.id, "running", plan=plan)
    got = ledger.get_deployment(rec.id)
    assert got.plan == plan
    entity = ledger.storage.table(ledger.names.deployments_table).get_entity("dev", __import__(
        "shared.audit.keys", fromlist=["DeploymentKey"]).DeploymentKey(rec.id).row)
    assert "plan_blob" in entity and "plan" not in entity


def test_steps_and_objects_are_idempotent(ledger: AuditLedger, clock: FakeClock) -> None:
    rec = new(ledger, clock)
    results = [ObjectResult("notebook", f"/Shared/a b/ü/{i}?#", "create", "succeeded") for i in range(230)]
    assert ledger.record_objects(rec.id, results) == 230
    ledger.record_objects(rec.id, results)  # a retry
    objs = ledger.objects(rec.id)
    assert len(objs) == 230
    assert {o.name for o in objs} == {r.name for r in results}
    step = StepRecord(rec.id, 1, "import", "succeeded", clock.now(), clock.now())
    ledger.record_step(step)
    ledger.record_step(step)
    assert [s["name"] for s in ledger.steps(rec.id)] == ["import"]


def test_commits_round_trip(ledger: AuditLedger, clock: FakeClock) -> None:
    c = CommitInfo("c" * 40, clock.now() - timedelta(hours=3), "alice", "fix")
    rec = new(ledger, clock, commits=[c], trigger="push", delivery_id="abc")
    got = ledger.get_deployment(rec.id)
    assert got.commits[0].timestamp == c.timestamp and got.commits[0].author == "alice"


def test_activity_is_recorded_once_per_key(ledger: AuditLedger, clock: FakeClock) -> None:
    a = Activity("dev", "environment_stop", "dev/stop/2026-01-05T19:00Z", clock.now(), actor="schedule",
                 data={"stopped": ["t1"]})
    _, created = ledger.record_activity(a)
    assert created
    _, again = ledger.record_activity(Activity("dev", "environment_stop", "dev/stop/2026-01-05T19:00Z",
                                               clock.now(), data={"stopped": ["t1"]}))
    assert not again
    page = ledger.list_activity("dev")
    assert len(page.items) == 1 and page.items[0].data == {"stopped": ["t1"]}
    assert ledger.get_activity(page.items[0].id).kind == "environment_stop"


def test_unknown_ids_and_bad_tokens_are_caller_errors(ledger: AuditLedger) -> None:
    with pytest.raises(NotFound):
        ledger.get_deployment("not-an-id")
    with pytest.raises(NotFound):
        ledger.get_deployment("20260101T000000000Z-dev-adf-00000000")
    with pytest.raises(BadRequest):
        ledger.list_deployments("dev", continuation="%%%")
    with pytest.raises(BadRequest):
        ledger.list_deployments("dev", limit=0)


def test_step_recorder_records_each_result_once(ledger: AuditLedger, clock: FakeClock) -> None:
    from shared.deploy.model import StepRecorder

    rec = new(ledger, clock)
    steps = StepRecorder(ledger, rec.id, clock)
    stop = ObjectResult("trigger", "t1", "stop", "succeeded")
    start = ObjectResult("trigger", "t1", "start", "succeeded")
    steps.objects([stop], "stop_triggers")
    steps.objects([start], "start_triggers")
    steps.objects([stop, start])  # the orchestrator's final pass adds nothing
    assert sorted(o.action for o in ledger.objects(rec.id)) == ["start", "stop"]
