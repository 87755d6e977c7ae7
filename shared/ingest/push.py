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
