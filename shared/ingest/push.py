"""The normalized push: what every webhook source turns its payload into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..audit.records import CommitInfo

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Push:
    """One push, whatever the provider (GitHub, Azure DevOps, GitLab)."""

    provider: str
    delivery_id: str
    repository: str  # the repository URL as the provider names it (https clone URL)
    ref: str  # full ref name: refs/heads/main, refs/tags/v1
    before: str
    after: str
    pusher: str | None = None
    pusher_email: str | None = None  # the pusher's e-mail when the payload gives one (branch workspaces)
    forced: bool = False
    deleted: bool = False
    commits: tuple[CommitInfo, ...] = ()
    repository_aliases: tuple[str, ...] = ()  # other names of the same repository (ssh URL, web URL)
    # files the push added/modified/removed, when the payload lists them all; None = unknown
    changed_paths: tuple[str, ...] | None = None
    provider_ids: tuple[str, ...] = ()  # the provider's own ids of this push/delivery (replay detection)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        """The branch name for ``refs/heads/...``, else None (tags, notes...)."""
        return self.ref[len("refs/heads/"):] if self.ref.startswith("refs/heads/") else None

    @property
    def head_commit(self) -> CommitInfo | None:
        for c in self.commits:
            if c.id == self.after:
                return c
        return self.commits[-1] if self.commits else None

    @property
    def head_time(self) -> datetime | None:
        head = self.head_commit
        return head.timestamp if head else None

    def to_json(self) -> dict[str, Any]:
        return {"provider": self.provider, "delivery_id": self.delivery_id, "repository": self.repository,
                "ref": self.ref, "before": self.before, "after": self.after, "pusher": self.pusher,
                "forced": self.forced, "deleted": self.deleted,
                "commits": [c.to_json() for c in self.commits]}


@dataclass(frozen=True)
class PullRequest:
    """A pull (merge) request's event, whatever the provider: which branch it merged into which, and whether.

    Squash and rebase merges make new commits on the target branch, so the source branch's head is not
    reachable from it; this event is what says the branch was merged (branch workspaces).
    """

    provider: str
    delivery_id: str
    repository: str  # the target repository, as the provider names it
    number: int  # the request's number in its repository (GitHub number, Azure DevOps id, GitLab iid)
    source_branch: str  # branch names, without refs/heads/
    target_branch: str
    source_head: str  # the source branch's commit the request merged ("" when the provider gives none)
    merged: bool
    status: str  # the provider's word when not merged: closed, abandoned, active, conflicts...
    merge_commit: str | None = None
    from_fork: bool = False  # the source branch lives in another repository (or one since deleted)
    actor: str | None = None
    repository_aliases: tuple[str, ...] = ()
    provider_ids: tuple[str, ...] = ()

    def as_push(self) -> Push:
        """The event in the shape the intake's claim, record and ignore paths take (the source branch's ref)."""
        return Push(provider=self.provider, delivery_id=self.delivery_id, repository=self.repository,
                    ref=f"refs/heads/{self.source_branch}", before=ZERO_SHA, after=self.source_head or ZERO_SHA,
                    pusher=self.actor, repository_aliases=self.repository_aliases, provider_ids=self.provider_ids,
                    extra={"pull_request": self.number})
