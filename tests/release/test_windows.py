"""Deployment windows: pure evaluation across midnight and time zones, and the gate with a FakeClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.clock import FakeClock
from shared.config import Window
from shared.deploy.request import DeploymentRequest
from shared.release.windows import active_occurrence, window_state

from .helpers import Flow, make_config

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def _w(kind: str, start: str, duration: str, tz: str = "UTC") -> Window:
    return Window(kind=kind, start=start, duration=duration, time_zone=tz)  # type: ignore[arg-type]


def test_deny_window_across_midnight_in_its_own_time_zone():
    # Nightly freeze 22:00-06:00 London time; in July London is UTC+1.
    deny = _w("deny", "0 0 22 * * *", "8h", "Europe/London")
    at = datetime(2026, 7, 10, 23, 30, tzinfo=LONDON)
    state = window_state([deny], at.astimezone(UTC))
    assert not state.open and "deny window" in state.reason
    assert state.opens_at == datetime(2026, 7, 11, 6, 0, tzinfo=LONDON)
    assert state.seconds_until_open() == 6 * 3600 + 30 * 60
    # After midnight, still inside the occurrence that started the evening before.
    early = datetime(2026, 7, 11, 5, 59, 59, tzinfo=LONDON).astimezone(UTC)
    assert active_occurrence(deny, early) == datetime(2026, 7, 10, 22, 0, tzinfo=LONDON)
    # The end is exclusive, the start inclusive.
    assert window_state([deny], datetime(2026, 7, 11, 6, 0, tzinfo=LONDON)).open
    assert not window_state([deny], datetime(2026, 7, 10, 22, 0, tzinfo=LONDON)).open
    assert window_state([deny], datetime(2026, 7, 10, 21, 59, 59, tzinfo=LONDON)).open


def test_allow_window_is_the_only_time_allowed_and_follows_daylight_saving():
    # Weekdays 09:00-17:00 New York time. 2026-03-08 is the US spring change (UTC-5 -> UTC-4).
    allow = _w("allow", "0 0 9 * * 1-5", "8h", "America/New_York")
    friday_evening = datetime(2026, 3, 6, 18, 0, tzinfo=NEW_YORK)
    state = window_state([allow], friday_evening)
    assert not state.open and "outside every allow window" in state.reason
    monday = datetime(2026, 3, 9, 9, 0, tzinfo=NEW_YORK)
    assert state.opens_at == monday and monday.astimezone(UTC).hour == 13  # EDT now: 09:00 = 13:00 UTC
    assert window_state([allow], datetime(2026, 3, 9, 16, 59, tzinfo=NEW_YORK)).open
    assert not window_state([allow], datetime(2026, 3, 9, 17, 0, tzinfo=NEW_YORK)).open


def test_deny_inside_allow_opens_when_the_deny_ends():
    allow = _w("allow", "0 0 8 * * *", "12h")  # 08:00-20:00 UTC
    deny = _w("deny", "0 0 12 * * *", "1h")  # lunch freeze 12:00-13:00 UTC
    state = window_state([allow, deny], datetime(2026, 1, 5, 12, 15, tzinfo=UTC))
    assert not state.open and state.opens_at == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
    late = window_state([allow, deny], datetime(2026, 1, 5, 21, 0, tzinfo=UTC))
    assert late.opens_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)


def test_weekend_freeze_from_the_spec():
    deny = _w("deny", "0 0 17 * * 5", "64h", "Europe/London")  # Friday 17:00 to Monday 09:00
    sunday = datetime(2026, 1, 11, 12, 0, tzinfo=UTC)
    state = window_state([deny], sunday)
    assert not state.open and state.opens_at == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    assert window_state([deny], datetime(2026, 1, 8, 12, 0, tzinfo=UTC)).open  # Thursday


def _window_flow(repo, storage, ledger, deployer, windows, **kw):  # type: ignore[no-untyped-def]
    config = make_config(repo, {"dev": {"deploy_on": ["push", "manual"], "windows": windows}})
    return Flow(config, storage, ledger, deployer, **kw)


def test_automatic_deployment_waits_for_the_window_and_runs_when_it_opens(repo, storage, azurite, deployer):
    from shared.audit import AuditLedger

    clock = FakeClock(datetime(2026, 7, 10, 21, 0, tzinfo=UTC))  # 22:00 London: inside the nightly freeze
    ledger = AuditLedger(storage, clock)
    flow = _window_flow(repo, storage, ledger, deployer, [
        {"kind": "deny", "start": "0 0 22 * * *", "duration": "8h", "time_zone": "Europe/London"}])
    sha = repo.commit({"n.py": "1"})
    rec = flow.push(sha)
    (req,) = flow.take()
    clock.advance(1)
    out = flow.orchestrator.run(req)
    assert out.status == "waiting_window" and out.requeued_after == 3600  # 8h away, capped at an hour
    got = flow.get(rec.id)
    assert got.status == "waiting_window" and "opens at 2026-07-11T05:00:00+00:00" in got.extra["waiting_reason"]
    assert deployer.applied == []
    assert storage.queue(storage.names.deploy_queue).get_queue_properties().approximate_message_count == 1
    # 05:30 UTC (06:30 London) the window is open; the re-checked request (the copy the queue holds
    # invisible for an hour, rebuilt here) deploys.
    clock.set(datetime(2026, 7, 11, 4, 30, tzinfo=UTC))
    again = flow.orchestrator.run(req.again())
    assert again.status == "waiting_window" and again.requeued_after == 1800  # opens in 30 minutes
    clock.set(datetime(2026, 7, 11, 5, 0, tzinfo=UTC))
    assert flow.orchestrator.run(req.again().again()).status == "succeeded"
    assert deployer.applied == [("dev", sha)]
    assert [h["status"] for h in ledger.status_history(rec.id)].count("waiting_window") == 2


def test_forced_manual_deployment_passes_a_closed_window_and_is_recorded(repo, storage, ledger, deployer):
    flow = _window_flow(repo, storage, ledger, deployer, [{"kind": "allow", "start": "0 0 3 * * *", "duration": "1h"}])
    sha = repo.commit({"n.py": "1"})
    rec = flow.push(sha, trigger="manual", force=True, actor="ops")
    flow.drain()
    got = flow.get(rec.id)
    assert got.status == "succeeded" and got.forced
    (act,) = [a for a in ledger.list_activity("dev").items if a.kind == "window_override"]
    assert act.deployment_id == rec.id and act.actor == "ops" and "allow window" in act.summary
    # The same manual deployment without force waits.
    plain = flow.push(repo.commit({"n.py": "2"}), trigger="manual")
    flow.drain()
    assert flow.get(plain.id).status == "waiting_window"


def test_approved_deployment_then_waits_for_its_window(repo, storage, azurite, deployer):
    from shared.audit import AuditLedger
    from shared.release import decide

    clock = FakeClock(datetime(2026, 1, 9, 18, 0, tzinfo=UTC))  # Friday 18:00 London: weekend freeze
    ledger = AuditLedger(storage, clock)
    config = make_config(repo, {"prod": {"deploy_on": ["manual"], "approval": "required", "windows": [
        {"kind": "deny", "start": "0 0 17 * * 5", "duration": "64h", "time_zone": "Europe/London"}]}})
    flow = Flow(config, storage, ledger, deployer)
    rec = flow.push(repo.commit({"n.py": "1"}), env="prod", trigger="manual")
    flow.drain()
    assert flow.get(rec.id).status == "waiting_approval"
    decide(ledger, flow.queue, config, rec.id, approve=True, actor="bob")
    (req,) = flow.take()
    assert flow.orchestrator.run(req).status == "waiting_window"
    clock.set(datetime(2026, 1, 12, 9, 0, tzinfo=UTC))
    assert flow.orchestrator.run(DeploymentRequest(rec.id, "prod", "notebooks", rec.commit)).status == "succeeded"


def test_deny_window_end_is_local_wall_clock_time_on_daylight_saving_nights():
    # "22:00 for 8h" in London ends at 06:00 local every night: 7 h on the spring night, 9 h in autumn.
    deny = _w("deny", "0 0 22 * * *", "8h", "Europe/London")
    spring_start = datetime(2026, 3, 28, 22, 0, tzinfo=LONDON)  # GMT; at 01:00 the clocks go to 02:00 BST
    state = window_state([deny], datetime(2026, 3, 29, 5, 0, tzinfo=LONDON).astimezone(UTC))
    assert not state.open and state.opens_at == datetime(2026, 3, 29, 6, 0, tzinfo=LONDON)
    assert state.opens_at - spring_start == timedelta(hours=7)
    assert window_state([deny], datetime(2026, 3, 29, 6, 30, tzinfo=LONDON).astimezone(UTC)).open
    autumn_start = datetime(2026, 10, 24, 22, 0, tzinfo=LONDON)  # BST; at 02:00 the clocks go back to 01:00
    at = datetime(2026, 10, 25, 5, 30, tzinfo=LONDON).astimezone(UTC)  # GMT: elapsed 8 h ended at 05:00
    assert active_occurrence(deny, at) == autumn_start.astimezone(UTC)
    state = window_state([deny], at)
    assert not state.open and state.opens_at == datetime(2026, 10, 25, 6, 0, tzinfo=LONDON)
    assert state.opens_at - autumn_start == timedelta(hours=9)
    assert window_state([deny], datetime(2026, 10, 25, 6, 0, tzinfo=LONDON).astimezone(UTC)).open
