"""Hostile and colliding branch names, unknown owners, foreign folders: refused, nothing changed; the TTL sweep."""

from __future__ import annotations

import pytest

from shared.branches.registry import BranchRegistry
from shared.deploy.queue import DeploymentQueue
from shared.maintenance import run_maintenance

from .conftest import NB, USERS, ZERO, World


def _nothing_changed(w: World, before: list[str]) -> None:
    assert w.ctx.ledger.list_deployments("dev").items == []
    assert DeploymentQueue(w.storage).peek() == []
    assert list(BranchRegistry(w.storage).all()) == []
    assert w.standin.paths("/Users") == before


@pytest.mark.parametrize("branch", ["feature/../../../Shared/dev/data-platform", "feature/\u2215Shared",
                                    "feature/x\u202e", "feature/\uff0e\uff0e", "feature/" + "x" * 250,
                                    "feature//x", "feature/a b"])
def test_a_hostile_branch_name_is_refused_at_the_webhook(world: World, branch: str) -> None:
    w = world
    before = w.standin.paths("/Users")
    status, answer = w.push("github", branch, ZERO, "a" * 40)
    assert status == 400 and answer["error"] == "invalid_branch_name", answer
    assert "cannot have a branch workspace" in answer["message"]
    _nothing_changed(w, before)
    refused = [a for a in w.ctx.ledger.list_activity("dev").items if a.kind == "branch_refused"]
    assert len(refused) == 1 and refused[0].status == "refused"


def test_branches_that_collide_after_normalising_are_refused(world: World) -> None:
    w, repo = world, world.repo
    sha = repo.commit({"notebooks/a.py": NB}, "a", branch="users/ada/x")
    assert w.push("github", "users/ada/x", ZERO, sha)[0] == 202
    w.drain()
    status, answer = w.push("gitlab", "users/ada-x", ZERO, sha)
    assert status == 409 and answer["error"] == "branch_collision", answer
    assert "users/ada/x" in answer["message"]
    assert len(w.ctx.ledger.list_deployments("dev").items) == 1
    assert BranchRegistry(w.storage).get("users/ada-x").branch == "users/ada/x"  # the first keeps its folder


def test_a_pusher_who_is_not_a_workspace_user_gets_no_folder(world: World) -> None:
    w, repo = world, world.repo
    sha = repo.commit({"notebooks/a.py": NB}, "a", branch="feature/x")
    payload_user = USERS["github"]
    w.standin.iam.users.clear()  # nobody is a user of the workspace any more
    status, answer = w.push("github", "feature/x", ZERO, sha)
    assert status == 202
    w.drain()
    rec = w.ctx.ledger.get_deployment(answer["deployments"][0])
    assert rec.status == "failed" and "owner_unknown" in rec.error and payload_user in rec.error
    assert not w.standin.exists(f"/Users/{payload_user}/branches")


def test_a_folder_that_exists_without_being_ours_is_left_alone(world: World) -> None:
    w, repo = world, world.repo
    mine = f"/Users/{USERS['github']}/branches/feature-x"
    w.standin.seed_notebook(f"{mine}/private", "# Databricks notebook source\nsecret = 1\n")
    sha = repo.commit({"notebooks/a.py": NB}, "a", branch="feature/x")
    status, answer = w.push("github", "feature/x", ZERO, sha)
    assert status == 202
    w.drain()
    rec = w.ctx.ledger.get_deployment(answer["deployments"][0])
    assert rec.status == "failed" and "folder_exists" in rec.error
    assert w.standin.paths(mine) == [mine, f"{mine}/private"]
    assert w.standin.permissions(mine) == {}


def test_the_timer_removes_branch_folders_without_a_push_for_the_ttl(world: World) -> None:
    w, repo = world, world.repo
    old = repo.commit({"notebooks/a.py": NB}, "a", branch="feature/old")
    w.push("github", "feature/old", ZERO, old)
    w.drain()
    w.clock.advance(days=10)
    fresh = repo.commit({"notebooks/b.py": NB}, "b", branch="feature/fresh")
    w.push("gitlab", "feature/fresh", ZERO, fresh)
    w.drain()
    old_folder = f"/Users/{USERS['github']}/branches/feature-old"
    fresh_folder = f"/Users/{USERS['gitlab']}/branches/feature-fresh"
    assert w.standin.exists(old_folder) and w.standin.exists(fresh_folder)
    assert "branch_removals" not in run_maintenance(w.ctx)  # nothing is due yet
    w.clock.advance(days=4, hours=1)  # feature/old: 14 days and an hour without a push
    report = run_maintenance(w.ctx)
    assert [(r["branch"], r["reason"]) for r in report["branch_removals"]] == [("feature/old", "expired")]
    assert "branch_removals" not in run_maintenance(w.ctx)  # queued once
    w.drain()
    assert not w.standin.exists(old_folder) and w.standin.exists(fresh_folder)
    entry = BranchRegistry(w.storage).get("feature/old")
    assert (entry.state, entry.removal_reason) == ("removed", "expired")
    # a push after the removal starts the branch workspace again
    again = repo.commit({"notebooks/a.py": NB + "x = 2\n"}, "a2", branch="feature/old")
    w.push("github", "feature/old", old, again)
    w.drain()
    assert w.standin.exists(f"{old_folder}/a")
    assert BranchRegistry(w.storage).get("feature/old").state == "active"
