"""Lead time per commit per environment, and per-developer keys by commit author (``people:``) or pusher."""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.audit import AuditLedger, CommitInfo, DeploymentRecord
from shared.clock import FakeClock
from shared.config import parse_config
from shared.identity import People
from shared.metrics.dora import commit_author
from shared.metrics.report import dora_report

from .history import NOW, t

PEOPLE = People.of(parse_config({
    "repository": {"provider": "local", "url": "https://example.invalid/platform"},
    "environments": {"dev": {}},
    "people": [{"entra": "ada.l@contoso.com", "git": ["ada@contoso.com"]},
               {"entra": "robert@contoso.com", "git": ["bob"]}],
}))
# A push of three commits by three authors, merged (pushed) by "merger".
C1 = CommitInfo("a1" * 20, t(2, 8), "ada", author_email="ada@contoso.com")
C2 = CommitInfo("b2" * 20, t(2, 9), "bob", author_email="1234+bob@users.noreply.github.com")
C3 = CommitInfo("c3" * 20, t(2, 9, 30), "Carol Smith", author_email="carol@contoso.com")


def _deploy(ledger: AuditLedger, clock: FakeClock, env: str, created: datetime, ended: datetime,
            commits: list[CommitInfo], status: str = "succeeded", trigger: str = "push") -> DeploymentRecord:
    head = commits[-1]
    rec = DeploymentRecord(id=ledger.new_deployment_id(env, "adf", f"{env}{created.isoformat()}", when=created),
                           environment=env, component="adf", commit=head.id, actor="merger", trigger=trigger,
                           commit_time=head.timestamp, queued_at=created, commits=commits)
    clock.set(created)
    ledger.create_deployment(rec)
    ledger.transition(rec.id, "running", at=created)
    clock.set(ended)
    return ledger.transition(rec.id, status, at=ended)


def test_commit_author_identity() -> None:
    # A login mapped in people:, an e-mail mapped in people:, an unmapped e-mail (a display name is no identity).
    assert commit_author(C2, PEOPLE.resolve) == "robert@contoso.com"
    assert commit_author(C1, PEOPLE.resolve) == "ada.l@contoso.com"
    assert commit_author(C3, PEOPLE.resolve) == "carol@contoso.com"
    assert commit_author(C3) == "carol@contoso.com" and commit_author(CommitInfo("d" * 40)) == "(unknown)"


@pytest.mark.parametrize("promoted_with_range", [True, False])
def test_one_lead_time_sample_per_commit_per_environment(ledger: AuditLedger, clock: FakeClock,
                                                         promoted_with_range: bool) -> None:
    # dev gets the push at 10:00-10:30; test gets the promotion at 12:00-12:30 carrying the range it
    # brings for the first time (the identity change) or, as older records do, only its head commit.
    _deploy(ledger, clock, "dev", t(2, 10), t(2, 10, 30), [C1, C2, C3])
    promoted = [C1, C2, C3] if promoted_with_range else [C3]
    _deploy(ledger, clock, "test", t(2, 12), t(2, 12, 30), promoted, trigger="promotion")
    clock.set(NOW)
    dev = dora_report(ledger, "dev", NOW, 30).to_json()["lead_time"]
    # dev: 10:30 - 8:00 = 9000, - 9:00 = 5400, - 9:30 = 3600 -> median 5400.
    assert dev["commits"] == 3 and dev["median_seconds"] == 5400.0
    test = dora_report(ledger, "test", NOW, 30).to_json()["lead_time"]
    if promoted_with_range:
        # test: 12:30 - 8:00 = 16200, - 9:00 = 12600, - 9:30 = 10800 -> median 12600.
        assert test["commits"] == 3 and test["median_seconds"] == 12600.0
    else:
        assert test["commits"] == 1 and test["median_seconds"] == 10800.0  # only the head C3 is known


def test_per_developer_by_author_and_by_pusher(ledger: AuditLedger, clock: FakeClock) -> None:
    _deploy(ledger, clock, "dev", t(2, 10), t(2, 10, 30), [C1, C2, C3])
    # bob's fix-up fails, then succeeds.
    c4 = CommitInfo("e4" * 20, t(3, 9), "bob", author_email="1234+bob@users.noreply.github.com")
    _deploy(ledger, clock, "dev", t(3, 10), t(3, 10, 10), [c4], status="failed")
    _deploy(ledger, clock, "dev", t(3, 11), t(3, 11, 10), [c4])
    clock.set(NOW)
    body = dora_report(ledger, "dev", NOW, 30, by_developer=True, group_by="author",
                       resolve=PEOPLE.resolve).to_json()
    devs = body["by_developer"]
    assert sorted(devs) == ["ada.l@contoso.com", "carol@contoso.com", "robert@contoso.com"]
    ada, bob, carol = devs["ada.l@contoso.com"], devs["robert@contoso.com"], devs["carol@contoso.com"]
    # The push counts for each of its three authors; bob also has the failure and the fix.
    assert (ada["deployments"], carol["deployments"], bob["deployments"]) == (1, 1, 3)
    # One sample per commit, to its author: ada 9000 (C1), carol 3600 (C3); bob 5400 (C2) and
    # 11:10 - 9:00 = 7800 (c4, first deployed by the fix) -> median 6600.
    assert ada["lead_time"]["commits"] == 1 and ada["lead_time"]["median_seconds"] == 9000.0
    assert carol["lead_time"]["median_seconds"] == 3600.0
    assert bob["lead_time"]["commits"] == 2 and bob["lead_time"]["median_seconds"] == 6600.0
    # bob's change failure rate 1/3, recovery 10:10 -> 11:10 = 3600 s; the fix is rework (1/3).
    assert bob["change_failure_rate"]["value"] == pytest.approx(1 / 3)
    assert bob["time_to_restore"]["median_seconds"] == 3600.0 and bob["rework_rate"]["fixes"] == 1
    assert ada["change_failure_rate"]["value"] == 0.0
    # The totals count each deployment once: 3 deployments, 4 commits.
    assert body["deployments"] == 3 and body["lead_time"]["commits"] == 4
    pushers = dora_report(ledger, "dev", NOW, 30, by_developer=True, group_by="pusher").to_json()
    assert pushers["group_by"] == "pusher" and list(pushers["by_developer"]) == ["merger"]
    assert pushers["by_developer"]["merger"]["lead_time"]["commits"] == 4
