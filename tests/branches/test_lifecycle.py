"""A branch workspace created, updated, merged and deleted, from each webhook source, end to end.

Webhook (dev host) -> queue -> worker -> notebook sync into the branch folder on the Databricks
stand-in (databricks-sdk over HTTP) with Azurite for the ledger, registry, state and queue.
"""

from __future__ import annotations

import pytest

from shared.branches.registry import BranchRegistry

from .conftest import NB, TARGET, USERS, ZERO, World

SOURCES = ["github", "azure-devops", "gitlab"]


def folder(source: str, name: str) -> str:
    return f"/Users/{USERS[source]}/branches/{name}"


@pytest.mark.parametrize("source", SOURCES)
def test_branch_created_updated_merged_and_removed(world: World, source: str) -> None:
    w, repo = world, world.repo
    main0 = repo.git("rev-parse", "main")
    # 1. the first push of feature/login creates its folder, owned by the pusher
    sha1 = repo.commit({"notebooks/etl/login.py": NB + "print('v1')\n"}, "login", branch="feature/login")
    status, answer = w.push(source, "feature/login", ZERO, sha1)
    assert status == 202 and answer["status"] == "queued", answer
    (did,) = answer["deployments"]
    w.drain()
    rec = w.deployment(did)
    assert (rec.status, rec.trigger, rec.component, rec.environment) == ("succeeded", "branch", "notebooks", "dev")
    where = folder(source, "feature-login")
    assert rec.extra["folder"] == where and rec.extra["branch"] == "feature/login"
    assert b"print('v1')" in w.standin.read_source(f"{where}/etl/login")
    assert b"print('ingest')" in w.standin.read_source(f"{where}/etl/ingest")
    assert w.standin.permissions(where) == {("user_name", USERS[source]): "CAN_MANAGE",
                                            ("group_name", "data-readers"): "CAN_READ"}
    assert not w.standin.exists(TARGET)  # the shared folder is not touched by a branch
    entry = BranchRegistry(w.storage).get("feature/login")
    assert entry is not None and entry.owner == USERS[source] and entry.synced_commit == sha1

    # 2. a second push syncs incrementally (same engine and state): one notebook uploaded
    imports = w.standin.counters.count("workspace.import")
    sha2 = repo.commit({"notebooks/etl/login.py": NB + "print('v2')\n"}, "login v2", branch="feature/login")
    status, answer = w.push(source, "feature/login", sha1, sha2)
    assert status == 202, answer
    w.drain()
    rec2 = w.deployment(answer["deployments"][0])
    assert rec2.status == "succeeded" and rec2.plan["counts"] == {"unchanged": 1, "update": 1}, rec2.plan["counts"]
    assert w.standin.counters.count("workspace.import") - imports == 1
    assert b"print('v2')" in w.standin.read_source(f"{where}/etl/login")

    # 3. merged into main: the push to main removes the folder (its head is reachable from main)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature/login", "feature/login")
    merge = repo.git("rev-parse", "HEAD")
    status, answer = w.push(source, "main", main0, merge)
    assert status == 202 and answer["status"] == "queued", answer
    w.drain()
    assert not w.standin.exists(where)
    entry = BranchRegistry(w.storage).get("feature/login")
    assert entry is not None and entry.state == "removed" and entry.removal_reason == "merged"
    removal = w.deployment(entry.removal_deployment_id)
    assert (removal.status, removal.trigger, removal.extra["reason"]) == ("succeeded", "branch", "merged")
    assert b"print('v2')" in w.standin.read_source(f"{TARGET}/etl/login")  # main deployed the merge

    # 4. another branch, deleted without a merge: the deletion push removes its folder
    sha3 = repo.commit({"notebooks/spike.py": NB + "print('spike')\n"}, "spike", branch="feature/spike")
    w.push(source, "feature/spike", ZERO, sha3)
    w.drain()
    spike = folder(source, "feature-spike")
    assert w.standin.exists(f"{spike}/spike")
    status, answer = w.push(source, "feature/spike", sha3, ZERO)
    assert status == 202 and answer["status"] == "queued", answer
    w.drain()
    assert not w.standin.exists(spike)
    gone = w.deployment(answer["deployments"][0])
    assert (gone.status, gone.extra["action"], gone.extra["reason"]) == ("succeeded", "remove", "deleted")
    assert BranchRegistry(w.storage).get("feature/spike").state == "removed"
    # deleting it again has nothing to remove
    status, answer = w.push(source, "feature/spike", sha3, ZERO)
    assert status == 202 and answer["status"] == "ignored"
