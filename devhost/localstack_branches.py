"""The branch workspace part of ``make run``: a feature branch gets its folder, the merge removes it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .localstack import ZERO, Stack, _call, _git, commit_change, deliver, get, github_push, heading, say

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
    heading(f"Merging {BRANCH} into main removes its folder")
    before = _git(repo, "rev-parse", "main")
    _git(repo, "merge", "-q", "--no-ff", "-m", f"Merge {BRANCH}", BRANCH)
    merge = _git(repo, "rev-parse", "HEAD")
    status, body = deliver(stack, github_push(repo, repo_url, "main", before, merge))
    say(f"  push main {merge[:8]} (merge) -> webhook {status} {body.get('status')}")
    gone = _branch(stack, "removed", timeout=180)
    if gone is not None:
        say(f"  branch workspace {BRANCH}: folder {gone['folder']} removed ({gone['removal_reason']}, "
            f"deployment {gone['removal_deployment_id']})")
    status, body = _call(f"{stack.api}/deployments?branch={BRANCH}&limit=10", stack.key)
    say(f"  GET /api/deployments?branch={BRANCH}: " + ", ".join(
        f"{i['extra'].get('action')} {i['status']}" for i in reversed(body.get("items", []))))
