"""Incidents: causes named, by commit, attributed within the configured window, resolution."""

from __future__ import annotations

import pytest

from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.errors import BadRequest, NotFound
from shared.metrics.incidents import IncidentBook

from .history import ENV, NOW, deploy, sha, t


def test_no_cause_is_attributed_to_the_latest_success_and_says_so(ledger: AuditLedger, clock: FakeClock) -> None:
    early = deploy(ledger, clock, created=t(1, 10), ended=t(1, 11), status="succeeded", actor="a",
                   commits=[(sha(1), t(1, 9))])
    latest = deploy(ledger, clock, created=t(2, 10), ended=t(2, 11), status="succeeded", actor="b",
                    commits=[(sha(2), t(2, 9))])
    deploy(ledger, clock, created=t(2, 12), ended=t(2, 13), status="failed", actor="c",
           commits=[(sha(3), t(2, 11))])
    # ended after the incident opened: not a candidate
    deploy(ledger, clock, created=t(3, 9), ended=t(3, 11), status="succeeded", actor="d",
           commits=[(sha(4), t(3, 8))])
    clock.set(NOW)
    inc, created = IncidentBook(ledger, clock).open(ENV, "incident", "stale data", opened_at=t(3, 10))
    assert created and inc.deployment_id == latest.id != early.id
    assert inc.cause["kind"] == "attributed" and "attributed" in inc.cause["note"]
    stored = IncidentBook(ledger, clock).get(inc.id)
    assert stored.deployment_id == latest.id and stored.cause == inc.cause and stored.status == "open"


def test_no_cause_and_nothing_in_the_window_is_not_attributed(ledger: AuditLedger, clock: FakeClock) -> None:
    deploy(ledger, clock, created=t(1, 10), ended=t(1, 11), status="succeeded", actor="a",
           commits=[(sha(1), t(1, 9))])
    clock.set(NOW)
    inc, _ = IncidentBook(ledger, clock, attribution_days=1).open(ENV, "incident", "x", opened_at=t(3, 10))
    assert inc.deployment_id is None and inc.cause["kind"] == "none"
    assert "not attributed" in inc.cause["note"]


def test_a_named_commit_resolves_to_the_deployment_that_carried_it(ledger: AuditLedger, clock: FakeClock) -> None:
    carrier = deploy(ledger, clock, created=t(1, 10), ended=t(1, 11), status="succeeded", actor="a",
                     commits=[(sha(1), t(1, 8)), (sha(2), t(1, 9))])
    deploy(ledger, clock, created=t(2, 10), ended=t(2, 11), status="succeeded", actor="b",
           commits=[(sha(3), t(2, 9))])
    clock.set(NOW)
    inc, _ = IncidentBook(ledger, clock).open(ENV, "data_quality", "dupes", caused_by=sha(1)[:10],
                                              opened_at=t(4, 10))
    assert inc.deployment_id == carrier.id and inc.cause["kind"] == "commit" and inc.kind == "data_quality"


def test_a_named_deployment_must_exist_in_that_environment(ledger: AuditLedger, clock: FakeClock) -> None:
    other = deploy(ledger, clock, env="dev", created=t(1, 10), ended=t(1, 11), status="succeeded", actor="a",
                   commits=[(sha(1), t(1, 8))])
    clock.set(NOW)
    book = IncidentBook(ledger, clock)
    with pytest.raises(BadRequest, match="belongs to environment 'dev'"):
        book.open(ENV, "incident", "x", caused_by=other.id)
    with pytest.raises(BadRequest, match="does not exist"):
        book.open(ENV, "incident", "x", caused_by=other.id.replace("dev", "prod"))
    with pytest.raises(BadRequest, match="deployment id or a commit"):
        book.open(ENV, "incident", "x", caused_by="yesterday's release")
    assert book.list(ENV) == []  # nothing was recorded


def test_open_twice_with_the_same_key_records_once(ledger: AuditLedger, clock: FakeClock) -> None:
    clock.set(NOW)
    book = IncidentBook(ledger, clock)
    a, created_a = book.open(ENV, "incident", "x", opened_at=t(20, 10), key="pager-123")
    b, created_b = book.open(ENV, "incident", "x", opened_at=t(20, 10), key="pager-123")
    assert created_a and not created_b and a.id == b.id and len(book.list(ENV)) == 1


def test_resolve_records_time_and_is_idempotent(ledger: AuditLedger, clock: FakeClock) -> None:
    clock.set(NOW)
    book = IncidentBook(ledger, clock)
    inc, _ = book.open(ENV, "incident", "x", opened_at=t(20, 10))
    with pytest.raises(BadRequest, match="before the incident opened"):
        book.resolve(inc.id, resolved_at=t(20, 9))
    done, changed = book.resolve(inc.id, resolved_at=t(20, 12), actor="ops", note="restarted")
    assert changed and done.status == "resolved"
    again, changed_again = book.resolve(inc.id, resolved_at=t(21, 12))
    assert not changed_again and again.resolved_at == t(20, 12)
    stored = book.get(inc.id)
    assert stored.resolved_at == t(20, 12) and stored.resolved_by == "ops" and stored.resolution == "restarted"
    assert stored.title == "x" and stored.opened_at == t(20, 10)


def test_unknown_incident_is_not_found(ledger: AuditLedger, clock: FakeClock) -> None:
    book = IncidentBook(ledger, clock)
    with pytest.raises(NotFound):
        book.resolve("prod~0000-incident-abc")
    with pytest.raises(NotFound):
        book.get("nonsense")


def test_bad_values_are_refused(ledger: AuditLedger, clock: FakeClock) -> None:
    clock.set(NOW)
    book = IncidentBook(ledger, clock)
    with pytest.raises(BadRequest, match="kind"):
        book.open(ENV, "outage", "x")
    with pytest.raises(BadRequest, match="title"):
        book.open(ENV, "incident", "  ")
    with pytest.raises(BadRequest, match="future"):
        book.open(ENV, "incident", "x", opened_at=t(2, 0, month=3))
