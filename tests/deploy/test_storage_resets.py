"""Storage writes meet connection resets, before the request reached Azurite and after Azurite carried
it out (the answer lost), through a TCP proxy the test controls (devhost/faultproxy.py ``reset_next``).

azure-core does not retry a POST (a Table insert, an entity-group transaction) after a transport
error, and its retry of a PUT with ``If-Match`` that was carried out answers 412: each of those used to
fail the write, or the whole deployment, with "Connection reset by peer". Every write here must end
correct: exactly one entity or message where one is meant, nothing lost, nothing doubled, a write that
is another writer's still lost, and a deployment ending with its true final status.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.azurite import Azurite
from devhost.faultproxy import StorageFaults
from shared.audit import AuditLedger
from shared.claims import Claims
from shared.deploy.lock import LeaseLock
from shared.deploy.orchestrator import Orchestrator, submit
from shared.deploy.queue import DeploymentQueue
from shared.deploy.request import DeploymentRequest
from shared.settings import Settings
from shared.storage import StorageAccount
from shared.storage_writes import WRITE_ID

from .helpers import Deployers, LocalRepo, make_config


@pytest.fixture
def faults(azurite: Azurite) -> Iterator[StorageFaults]:
    with StorageFaults(azurite.host, azurite.blob_port, azurite.queue_port, azurite.table_port) as sf:
        yield sf


@pytest.fixture
def proxied(storage: StorageAccount, faults: StorageFaults) -> StorageAccount:
    """The same account as ``storage`` (provisioned), reached through the fault proxies."""
    return StorageAccount(connection_string=faults.connection_string, names=storage.names)


def _table(storage: StorageAccount, name: str, method: str, *, entity: bool = False) -> str:
    """A request-line pattern of ``method`` on table ``name`` (``entity``: one entity's URL)."""
    return rf"^{method} /[^/]+/{re.escape(name)}" + (r"\(" if entity else r"(\?|$)")


@pytest.mark.parametrize("after", [False, True], ids=["reset-before", "reset-after"])
def test_a_claim_insert_reset_is_won_once(storage: StorageAccount, proxied: StorageAccount,
                                          faults: StorageFaults, after: bool) -> None:
    rule = faults.reset_next("table", _table(storage, storage.names.state_table, "POST"), after=after)
    won, data = Claims(proxied).claim("webhook", "github:d1", {"ids": ["a"]})
    assert rule.injected, "the reset did not happen"
    assert (won, data) == (True, {"ids": ["a"]})
    # Exactly one row, ours; anyone else claiming it now loses.
    rows = list(storage.table(storage.names.state_table).query_entities("PartitionKey eq 'claim-webhook'"))
    assert len(rows) == 1
    assert Claims(storage).claim("webhook", "github:d1", {"ids": ["a"]}) == (False, {"ids": ["a"]})


def test_a_claim_taken_by_another_writer_is_not_won_by_a_retry_with_the_same_content(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults) -> None:
    """The retry answers 409 with an entity of the same content: not ours (another writer's id)."""
    assert Claims(storage).claim("webhook", "github:d2", {"ids": ["a"]})[0]
    rule = faults.reset_next("table", _table(storage, storage.names.state_table, "POST"))
    assert Claims(proxied).claim("webhook", "github:d2", {"ids": ["a"]}) == (False, {"ids": ["a"]})
    assert rule.injected


@pytest.mark.parametrize("after", [False, True], ids=["reset-before", "reset-after"])
def test_an_update_with_etag_reset_is_applied_once_and_a_final_status_stays_final(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults, clock: Any, after: bool) -> None:
    """The SDK retries the PUT (If-Match); when the first attempt was carried out the retry answers 412.
    That is our own write: the transition succeeds once (it used to be retried into 'already ended')."""
    direct = AuditLedger(storage, clock)
    rec = submit(direct, DeploymentQueue(storage), environment="dev", component="notebooks", commit="a" * 40,
                 ref="refs/heads/main", trigger="push", seed="u1")
    ledger = AuditLedger(proxied, clock)
    ledger.transition(rec.id, "planning")
    rule = faults.reset_next("table", _table(storage, storage.names.deployments_table, "PUT", entity=True),
                             after=after)
    ended = ledger.transition(rec.id, "succeeded")
    assert rule.injected and ended.status == "succeeded"
    stored = direct.get_deployment(rec.id)
    assert stored.status == "succeeded" and stored.ended_at is not None
    assert [h["status"] for h in direct.status_history(rec.id)] == ["queued", "planning", "succeeded"]


def test_an_update_with_etag_that_lost_to_another_writer_still_conflicts(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults) -> None:
    """A 412 to a retry whose row another writer changed (same content even) is not ours."""
    from azure.core.exceptions import ResourceModifiedError

    from shared.storage_writes import update_entity

    table = storage.table(storage.names.state_table)
    meta = table.create_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
    table.update_entity({"PartitionKey": "p", "RowKey": "r", "v": 2})  # another writer, unconditional
    rule = faults.reset_next("table", _table(storage, storage.names.state_table, "PUT", entity=True))
    with pytest.raises(ResourceModifiedError):
        update_entity(proxied.table(storage.names.state_table), {"PartitionKey": "p", "RowKey": "r", "v": 2},
                      etag=meta["etag"])
    assert rule.injected
    assert WRITE_ID not in table.get_entity("p", "r")


@pytest.mark.parametrize("after", [False, True], ids=["reset-before", "reset-after"])
def test_a_queue_send_reset_is_retried_at_once_and_its_copy_is_run_once(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults, clock: Any,
        repo: LocalRepo, deployers: Deployers, after: bool) -> None:
    """The queue SDK retries a send after a reset (at once, not after its 15 s back-off). A send that
    reached the queue before the reset leaves a second copy; the worker runs the deployment once."""
    ledger = AuditLedger(storage, clock)
    sha = repo.commit({"n.py": "1"})
    rule = faults.reset_next("queue", rf"^POST /[^/]+/{re.escape(storage.names.deploy_queue)}/messages",
                             after=after)
    t0 = time.monotonic()
    rec = submit(ledger, DeploymentQueue(proxied), environment="dev", component="notebooks", commit=sha,
                 ref="refs/heads/main", trigger="push", seed=sha)
    assert rule.injected and time.monotonic() - t0 < 5.0
    q = storage.queue(storage.names.deploy_queue)
    messages = list(q.receive_messages(max_messages=32, visibility_timeout=60))
    assert [DeploymentRequest.from_bytes(m.content).deployment_id for m in messages] == [rec.id] * (2 if after else 1)
    orch = Orchestrator(make_config(str(repo.path)), storage, ledger, Settings({}), clock,
                        components=deployers.components)
    assert [orch.run(DeploymentRequest.from_bytes(m.content)).status for m in messages] == \
        ["succeeded"] * len(messages)
    assert deployers["notebooks"].applied == [sha]


def test_a_lease_acquire_reset_after_it_was_granted_still_takes_the_lock(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults) -> None:
    """The SDK proposes a lease id with every acquire (BlobLeaseClient), so its retry after a reset
    re-acquires our own lease (Azure renews a lease acquired again with its id) instead of 409."""
    LeaseLock(storage, "dev", "notebooks", duration=15)._ensure_blob()
    rule = faults.reset_next("blob", r"^PUT /[^/]+/[^/]+/dev/notebooks\?comp=lease", after=True)
    lock = LeaseLock(proxied, "dev", "notebooks", duration=15)
    assert lock.try_acquire("me")
    try:
        assert rule.injected
        assert not LeaseLock(storage, "dev", "notebooks", duration=15).try_acquire("other")
    finally:
        lock.release()
    assert LeaseLock(storage, "dev", "notebooks", duration=15).current_holder() is None


def test_a_deployment_whose_writes_meet_resets_ends_succeeded_with_one_record_of_each_step(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults, clock: Any,
        repo: LocalRepo, deployers: Deployers) -> None:
    """Resets before and after Azurite carried out: the deployment insert, status updates (If-Match),
    detail inserts (steps, status rows), the per-object transaction, the lease and the queue send."""
    names = storage.names
    sha = repo.commit({"notebooks/a.py": "# Databricks notebook source\n1", "notebooks/b.sql": "x"})
    rules = [
        faults.reset_next("table", _table(storage, names.deployments_table, "POST"), after=True),
        faults.reset_next("table", _table(storage, names.deployments_table, "PUT", entity=True), after=True,
                          count=2),
        # the first detail insert: reset after, its retry reset before; later ones (steps) after
        faults.reset_next("table", _table(storage, names.details_table, "POST"), after=True),
        faults.reset_next("table", _table(storage, names.details_table, "POST")),
        faults.reset_next("table", _table(storage, names.details_table, "POST"), after=True, skip=3, count=2),
        faults.reset_next("table", _table(storage, names.details_table, "POST"), skip=5),
        faults.reset_next("table", r"^POST /[^/]+/\$batch", after=True),
        faults.reset_next("blob", r"\?comp=lease", after=True),
    ]
    ledger = AuditLedger(proxied, clock)
    rec = submit(ledger, DeploymentQueue(proxied), environment="dev", component="notebooks", commit=sha,
                 ref="refs/heads/main", trigger="push", seed=sha)
    orch = Orchestrator(make_config(str(repo.path)), proxied, ledger, Settings({}), clock,
                        components=deployers.components)
    outcome = orch.run(DeploymentRequest(rec.id, "dev", "notebooks", sha, "refs/heads/main"))
    assert outcome.status == "succeeded", outcome
    assert [len(r.injected) for r in rules] == [r.count for r in rules], [r.injected for r in rules]

    direct = AuditLedger(storage, clock)
    got = direct.get_deployment(rec.id)
    assert got.status == "succeeded" and got.error is None
    assert [h["status"] for h in direct.status_history(rec.id)] == ["queued", "planning", "running", "succeeded"]
    assert [(s["name"], s["status"]) for s in direct.steps(rec.id)] == [("plan", "succeeded"),
                                                                       ("apply", "succeeded")]
    assert {o.name for o in direct.objects(rec.id)} == {"notebooks/a.py", "notebooks/b.sql"}
    assert deployers["notebooks"].applied == [sha]
    assert len(direct.list_deployments("dev").items) == 1


@pytest.mark.parametrize("first", [True, False], ids=["create", "update-if-match"])
def test_a_notebook_state_blob_write_reset_after_it_was_stored_is_ours(
        storage: StorageAccount, proxied: StorageAccount, faults: StorageFaults, first: bool) -> None:
    """The SDK retries the blob PUT; a retry of a write that was stored answers 409 (create) or 412
    (If-Match): the blob carries our write id, so the save succeeds instead of 'changed by another'."""
    from shared.notebooks.state import NotebookState, StateEntry

    if not first:
        NotebookState(storage, "notebooks/dev/x.json").save([StateEntry("/a", "h0")])
    state = NotebookState(proxied, "notebooks/dev/x.json")
    state.load()
    rule = faults.reset_next("blob", r"^PUT /[^/]+/[^/]+/notebooks/dev/x\.json$", after=True)
    state.save([StateEntry("/b", "h1")])
    assert rule.injected
    expected = {"/b"} if first else {"/a", "/b"}
    assert set(NotebookState(storage, "notebooks/dev/x.json").load()) == expected
    state.save([StateEntry("/c", "h2")])  # the ETag it kept is the stored one
    assert set(NotebookState(storage, "notebooks/dev/x.json").load()) == expected | {"/c"}
