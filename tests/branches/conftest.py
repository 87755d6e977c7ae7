"""A branch workspace world: a local repository, Azurite, the Databricks stand-in, the dev host."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

from devhost.host import FunctionHost
from devhost.standins.databricks import TOKEN_SETTING, DatabricksStandIn
from functions import branches, deployments, hooks, worker
from shared import app as app_context
from shared.app import AppContext
from shared.clock import FakeClock
from shared.config import PlatformConfig, parse_config
from shared.settings import Settings
from shared.storage import StorageAccount
from tests.deploy.helpers import LocalRepo
from tests.fixtures.host import keyed
from tests.ingest.helpers import SECRETS, azure_devops, github, gitlab

ZERO = "0" * 40
TARGET = "/Shared/dev/data-platform"
USERS = {"github": "ada@example.com", "azure-devops": "bo@example.com", "gitlab": "cy@example.com"}
NB = "# Databricks notebook source\n"


def raw_config(repo: LocalRepo, standin: DatabricksStandIn, env: dict[str, Any] | None = None,
               **bw: Any) -> dict[str, Any]:
    return {
        "repository": {"provider": "local", "url": str(repo.path)},
        "databricks": {"branch_workspaces": {"branches": ["feature/*", "users/*"], "environment": "dev",
                                             "read_groups": ["data-readers"], **bw}},
        "environments": {"dev": {"deploy_on": ["push"], **(env or {}),
                                 "databricks": {"host": standin.url, "token_setting": TOKEN_SETTING,
                                                "target_dir": TARGET}}}}


def config(repo: LocalRepo, standin: DatabricksStandIn, env: dict[str, Any] | None = None,
           **bw: Any) -> PlatformConfig:
    return parse_config(raw_config(repo, standin, env, **bw))


def payload(source: str, branch: str, before: str, after: str) -> dict[str, Any]:
    """The push body each provider sends (the fields the product reads, shaped as the real ones)."""
    email = USERS[source]
    commits = [] if after == ZERO else [{"id": after, "message": "change", "timestamp": "2026-01-05T10:00:00+00:00",
                                         "author": {"name": email.split("@")[0], "email": email}}]
    ref = f"refs/heads/{branch}"
    if source == "github":
        return {"ref": ref, "before": before, "after": after, "created": before == ZERO, "deleted": after == ZERO,
                "forced": False, "commits": commits,
                "repository": {"full_name": "contoso/data-platform",
                               "clone_url": "https://github.com/contoso/data-platform.git"},
                "pusher": {"name": "ada", "email": email}, "sender": {"login": "ada"}}
    if source == "azure-devops":
        return {"id": str(uuid.uuid4()), "eventType": "git.push",
                "resource": {"refUpdates": [{"name": ref, "oldObjectId": before, "newObjectId": after}],
                             "commits": [{"commitId": c["id"], "comment": "change",
                                          "author": {"name": "bo", "email": email, "date": c["timestamp"]}}
                                         for c in commits],
                             "repository": {"name": "data-platform",
                                            "remoteUrl": "https://dev.azure.com/contoso/data/_git/data-platform"},
                             "pushedBy": {"uniqueName": email, "displayName": "Bo"}}}
    return {"object_kind": "push", "event_name": "push", "ref": ref, "before": before, "after": after,
            "user_username": "cy", "user_name": "Cy", "user_email": email, "commits": commits,
            "total_commits_count": len(commits),
            "project": {"path_with_namespace": "contoso/data-platform",
                        "git_http_url": "https://gitlab.com/contoso/data-platform.git"}}


def pr_payload(source: str, branch: str, head: str, merge: str | None, *, merged: bool = True, number: int = 7,
               target: str = "main", fork: bool = False) -> dict[str, Any]:
    """A pull request's closing event as each provider sends it (the fields the product reads, shaped as the
    documented ones: GitHub ``pull_request`` closed, Azure DevOps ``git.pullrequest.merged`` / ``.updated``,
    GitLab Merge Request Hook)."""
    email = USERS[source]
    if source == "github":
        base_repo = {"id": 1296269, "full_name": "contoso/data-platform",
                     "clone_url": "https://github.com/contoso/data-platform.git",
                     "html_url": "https://github.com/contoso/data-platform"}
        head_repo = {"id": 999, "full_name": "mallory/data-platform",
                     "clone_url": "https://github.com/mallory/data-platform.git"} if fork else base_repo
        return {"action": "closed", "number": number,
                "pull_request": {"number": number, "state": "closed", "merged": merged,
                                 "merged_at": "2026-01-05T11:00:00Z" if merged else None,
                                 "merge_commit_sha": merge, "user": {"login": "ada"},
                                 "merged_by": {"login": "ada"} if merged else None,
                                 "html_url": f"https://github.com/contoso/data-platform/pull/{number}",
                                 "head": {"label": f"contoso:{branch}", "ref": branch, "sha": head, "repo": head_repo},
                                 "base": {"label": f"contoso:{target}", "ref": target, "sha": "f" * 40,
                                          "repo": base_repo}},
                "repository": base_repo, "sender": {"login": "ada"}}
    if source == "azure-devops":
        repo = {"id": "4bc14d40-c903-45e2-872e-0462c7748079", "name": "data-platform",
                "remoteUrl": "https://dev.azure.com/contoso/data/_git/data-platform"}
        resource: dict[str, Any] = {
            "repository": repo, "pullRequestId": number, "status": "completed" if merged else "abandoned",
            "createdBy": {"displayName": "Bo", "uniqueName": email},
            "closedBy": {"displayName": "Bo", "uniqueName": email},
            "sourceRefName": f"refs/heads/{branch}", "targetRefName": f"refs/heads/{target}",
            "mergeStatus": "succeeded", "lastMergeSourceCommit": {"commitId": head},
            "lastMergeTargetCommit": {"commitId": "f" * 40}}
        if merge:
            resource["lastMergeCommit"] = {"commitId": merge}
        if fork:
            resource["forkSource"] = {"name": f"refs/heads/{branch}",
                                      "repository": {**repo, "id": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                                                     "name": "fork"}}
        return {"id": str(uuid.uuid4()), "publisherId": "tfs",
                "eventType": "git.pullrequest.merged" if merged else "git.pullrequest.updated",
                "resource": resource}
    project = {"id": 15, "path_with_namespace": "contoso/data-platform",
               "git_http_url": "https://gitlab.com/contoso/data-platform.git",
               "web_url": "https://gitlab.com/contoso/data-platform"}
    return {"object_kind": "merge_request", "event_type": "merge_request",
            "user": {"username": "cy", "name": "Cy", "email": email}, "project": project,
            "object_attributes": {"iid": number, "source_branch": branch, "target_branch": target,
                                  "source_project_id": 16 if fork else 15, "target_project_id": 15,
                                  "state": "merged" if merged else "closed", "action": "merge" if merged else "close",
                                  "merge_commit_sha": merge, "last_commit": {"id": head},
                                  "url": f"https://gitlab.com/contoso/data-platform/-/merge_requests/{number}"}}


SIGN = {"github": github, "azure-devops": azure_devops, "gitlab": gitlab}


@dataclass
class World:
    repo: LocalRepo
    standin: DatabricksStandIn
    storage: StorageAccount
    clock: FakeClock
    ctx: AppContext
    host: FunctionHost

    def push(self, source: str, branch: str, before: str, after: str) -> tuple[int, dict[str, Any]]:
        headers, body = SIGN[source](payload(source, branch, before, after))
        status, _, data = self.host.dispatch("POST", f"http://localhost/api/hooks/{source}", headers, body)
        return status, json.loads(data)

    def pull_request(self, source: str, payload: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
        """Deliver a pull request event (signed as the provider signs it)."""
        if source == "github":
            headers, body = github(payload, event="pull_request")
        elif source == "gitlab":
            headers, body = gitlab(payload, event="Merge Request Hook")
        else:
            headers, body = azure_devops(payload)
        status, _, data = self.host.dispatch("POST", f"http://localhost/api/hooks/{source}", headers, body)
        return status, json.loads(data)

    def drain(self, timeout: float = 60) -> None:
        """Run the worker until the deployment queue is empty (a deadline, no sleeps to wait)."""
        listener = self.host.listener("deployment_worker")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if listener.process_once() == 0:
                return
        raise AssertionError("the deployment queue did not drain")

    def deployment(self, did: str) -> Any:
        return self.ctx.ledger.get_deployment(did)

    def get(self, path: str) -> tuple[int, Any]:
        status, _, data = self.host.dispatch("GET", f"http://localhost/api/{path}", keyed(self.host), b"")
        return status, json.loads(data)

    def configure(self, env: dict[str, Any] | None = None, settings: dict[str, str] | None = None,
                  **bw: Any) -> None:
        """The same world with another configuration (and more app settings)."""
        self.ctx = AppContext(settings=Settings({**self.ctx.settings.environ, **(settings or {})}),
                              clock=self.clock, _config=config(self.repo, self.standin, env, **bw),
                              _storage=self.storage)
        app_context.set_current(self.ctx)


@pytest.fixture
def world(storage: StorageAccount, azurite: Any, clock: FakeClock, databricks_standin: DatabricksStandIn,
          tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name, value in storage.names.app_settings().items():
        monkeypatch.setenv(name, value)
    for user in USERS.values():
        databricks_standin.add_user(user)
    databricks_standin.add_group("data-readers")
    repo = LocalRepo(tmp_path / "data-platform")
    repo.commit({"notebooks/etl/ingest.py": NB + "print('ingest')\n"}, "main notebooks")
    ctx = AppContext(settings=Settings({**SECRETS, TOKEN_SETTING: databricks_standin.token,
                                        "DATAOPS_LOCK_RETRY_SECONDS": "1"}),
                     clock=clock, _config=config(repo, databricks_standin), _storage=storage)
    app_context.set_current(ctx)
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)  # as function_app.py: blueprints keep it
    app.register_functions(hooks.bp)
    app.register_functions(worker.bp)
    app.register_functions(branches.bp)
    app.register_functions(deployments.bp)
    host = FunctionHost(app, {"extensions": {"queues": {"maxDequeueCount": 3, "batchSize": 1,
                                                        "newBatchThreshold": 0}}})
    yield World(repo, databricks_standin, storage, clock, ctx, host)
    app_context.set_current(None)
