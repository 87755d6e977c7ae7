"""The branch workspace part of ``make run``: a feature branch gets its folder, its squash-merged pull
request removes it (the push to main cannot show a squash merge; the ``pull_request`` event does)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .localstack import (
    AUTHOR,
    ZERO,
    Stack,
    _call,
    _git,
    commit_change,
    deliver,
    get,
    github_push,
    heading,
    say,
)

BRANCH = "feature/clean-sales-v2"


def _branch(stack: Stack, state: str, timeout: float = 120) -> dict[str, Any] | None:
    """Poll ``GET /api/branches`` until the branch is in ``state`` (and, when active, synced)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = get(stack, f"branches?state=all&branch={BRANCH}").get("items", [])
        item = items[0] if items else None
        if item and item["state"] == state and (state != "active" or item["last_sync"]["status"]):
            return item  # type: ignore[no-any-return]
        time.sleep(0.5)
    stack.failures.append(f"branch workspace {BRANCH} did not become {state}")
    return None


def _merged_pull_request(repo: Path, repo_url: str, head: str, merge: str, base: str) -> dict[str, Any]:
    """The ``pull_request`` body GitHub sends when a pull request is squash-merged (the fields the product reads)."""
    gh = {"id": 1, "name": repo.name, "full_name": f"contoso/{repo.name}", "html_url": repo_url,
          "clone_url": repo_url, "url": repo_url, "default_branch": "main"}
    user = {"login": "dana", "id": 1, "type": "User"}
    return {"action": "closed", "number": 1, "sender": user, "repository": gh,
            "pull_request": {"number": 1, "state": "closed", "merged": True, "merged_by": user, "user": user,
                             "merge_commit_sha": merge, "title": "Clean sales, v2",
                             "head": {"label": f"contoso:{BRANCH}", "ref": BRANCH, "sha": head, "repo": gh},
                             "base": {"label": "contoso:main", "ref": "main", "sha": base, "repo": gh}}}


def branch_scenario(stack: Stack, repo: Path, repo_url: str) -> None:
    heading(f"A feature branch gets its own Databricks folder ({BRANCH})")
    _git(repo, "checkout", "-q", "-b", BRANCH)
    _git(repo, "checkout", "-q", "main")

    def edit(r: Path) -> None:
        p = r / "notebooks" / "transform" / "clean_sales.py"
        p.write_text(p.read_text() + "\n# COMMAND ----------\n\nprint('v2 of the cleaning')\n")

    _, head = commit_change(repo, BRANCH, edit, "Clean sales, v2")
    status, body = deliver(stack, github_push(repo, repo_url, BRANCH, ZERO, head))
    say(f"  push {BRANCH} {head[:8]} -> webhook {status} {body.get('status')} {', '.join(body.get('deployments', []))}")
    item = _branch(stack, "active")
    if item is not None:
        say(f"  branch workspace {BRANCH}: folder {item['folder']} created, owner {item['owner']}, "
            f"last sync {item['last_sync']['status']} ({item['last_sync']['deployment_id']})")
        if item["last_sync"]["status"] != "succeeded":
            stack.failures.append(f"the sync of {BRANCH} did not succeed")
    heading(f"Squash-merging {BRANCH} into main (pull request #1) removes its folder")
    before = _git(repo, "rev-parse", "main")
    _git(repo, "merge", "-q", "--squash", BRANCH)
    _git(repo, "commit", "-q", "-m", "Clean sales, v2 (#1)", env=AUTHOR)
    merge = _git(repo, "rev-parse", "HEAD")
    status, body = deliver(stack, github_push(repo, repo_url, "main", before, merge))
    say(f"  push main {merge[:8]} (squash merge: {head[:8]} is not in main) -> webhook {status} {body.get('status')}")
    status, body = deliver(stack, _merged_pull_request(repo, repo_url, head, merge, before), event="pull_request")
    say(f"  pull_request #1 closed, merged -> webhook {status} {body.get('status')} "
        f"{', '.join(body.get('deployments', []))}")
    gone = _branch(stack, "removed", timeout=180)
    if gone is not None:
        say(f"  branch workspace {BRANCH}: folder {gone['folder']} removed ({gone['removal_reason']}, "
            f"deployment {gone['removal_deployment_id']})")
    status, body = _call(f"{stack.api}/deployments?branch={BRANCH}&limit=10", stack.key)
    say(f"  GET /api/deployments?branch={BRANCH}: " + ", ".join(
        f"{i['extra'].get('action')} {i['status']}" for i in reversed(body.get("items", []))))
