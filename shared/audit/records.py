"""Audit records: plain data, with their Table entity form."""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from .. import progress

DeploymentStatus = Literal[
    "queued", "waiting_lock", "waiting_window", "waiting_approval", "planning", "running",
    "succeeded", "failed", "superseded", "rejected", "rolled_back",
]
FINAL_STATUSES = frozenset({"succeeded", "failed", "superseded", "rejected", "rolled_back"})
ACTIVE_STATUSES = frozenset({"planning", "running"})
TRIGGERS = ("push", "promotion", "manual", "rollback", "schedule")

# Table storage: one string property holds at most 64 KiB (32K UTF-16 chars).
INLINE_LIMIT = 30_000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dt(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


_CO_AUTHOR = re.compile(r"^\s*co-authored-by:\s*[^<\n]*<([^>\n]+)>\s*$", re.IGNORECASE | re.MULTILINE)


def co_authors(message: str | None) -> list[str]:
    """The e-mails of the ``Co-authored-by: Name <email>`` trailers of a commit message."""
    return list(dict.fromkeys(m.strip() for m in _CO_AUTHOR.findall(message or "") if m.strip()))[:50]


@dataclass
class CommitInfo:
    id: str
    timestamp: datetime | None = None
    author: str | None = None  # the provider's login when it gives one, else the author's name/e-mail
    message: str | None = None
    author_email: str | None = None
    committer_email: str | None = None
    co_authors: list[str] = field(default_factory=list)  # e-mails from Co-authored-by trailers

    def __post_init__(self) -> None:
        if not self.co_authors and self.message:
            self.co_authors = co_authors(self.message)  # kept apart: the stored message is truncated

    def people(self) -> list[str]:
        """The git identities that wrote this commit (author login/name, author e-mail, co-authors)."""
        # A display name ("Ada Dev") identifies nobody: the author counts when it is a login or when
        # the provider gave no e-mail.
        author = self.author if self.author and (not self.author_email or " " not in self.author.strip()) else None
        return [p for p in (author, self.author_email, *self.co_authors) if p]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "timestamp": _iso(self.timestamp), "author": self.author,
                             "message": (self.message or "")[:200] or None}
        for name in ("author_email", "committer_email"):
            if getattr(self, name):
                d[name] = getattr(self, name)
        if self.co_authors:
            d["co_authors"] = list(self.co_authors)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CommitInfo:
        return cls(d["id"], _dt(d.get("timestamp")), d.get("author"), d.get("message"),
                   d.get("author_email"), d.get("committer_email"), list(d.get("co_authors") or []))


@dataclass
class DeploymentRecord:
    id: str
    environment: str
    component: str
    commit: str
    ref: str = ""
    repository: str = ""
    actor: str | None = None
    # How the actor is known: verified (Entra via App Service Authentication or the Azure sign-in, a
    # local identity, the app itself) or not (a git host login or e-mail from a webhook, cli:<os user>);
    # actor_source says which (app_service | azure | local | system | cli_unverified | git:<provider>).
    actor_verified: bool | None = None
    actor_source: str | None = None
    trigger: str = "push"
    status: str = "queued"
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    commit_time: datetime | None = None
    commits: list[CommitInfo] = field(default_factory=list)
    # The range ``commits`` lists: {"base": the commit deployed before (None: first deployment),
    # "head", "total" (None: unknown), "listed", "truncated"} (shared/deploy/commits.py).
    commit_range: dict[str, Any] | None = None
    summary: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    error_details: dict[str, Any] | None = None
    trace_id: str | None = None
    delivery_id: str | None = None
    plan: dict[str, Any] | None = None
    rollback_of: str | None = None
    forced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """The run: started (the last attempt began planning) to ended; waits are not in it."""
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None

    @property
    def wait_seconds(self) -> float | None:
        """The wait: queued to started (lock, deployment window and approval waits included)."""
        if self.queued_at and self.started_at:
            return max(0.0, (self.started_at - self.queued_at).total_seconds())
        return None

    def to_json(self, *, include_plan: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "plan" and not include_plan:
                continue
            if isinstance(v, datetime):
                v = v.isoformat()
            elif f.name == "commits":
                v = [c.to_json() for c in v]
            d[f.name] = v
        d["duration_seconds"] = self.duration_seconds
        d["wait_seconds"] = self.wait_seconds
        return d

    # JSON-valued properties of the entity
    _JSON = ("commits", "commit_range", "summary", "error_details", "plan", "extra")
    _TIMES = ("queued_at", "started_at", "ended_at", "commit_time")

    def to_entity(self) -> dict[str, Any]:
        e: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "commits":
                v = json.dumps([c.to_json() for c in v])
            elif f.name in self._JSON:
                v = None if v is None else json.dumps(v, default=str, sort_keys=True)
            if v is None:
                continue
            e[f.name] = v
        return e

    @classmethod
    def from_entity(cls, e: dict[str, Any]) -> DeploymentRecord:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in e or e[f.name] is None:
                continue
            v = e[f.name]
            if f.name == "commits":
                v = [CommitInfo.from_json(c) for c in json.loads(v)]
            elif f.name in cls._JSON:
                v = json.loads(v)
            elif f.name in cls._TIMES:
                v = _dt(v)
            kw[f.name] = v
        return cls(**kw)


@dataclass
class StepRecord:
    deployment_id: str
    seq: int
    name: str
    status: str  # running | succeeded | failed | skipped
    started_at: datetime | None = None
    ended_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["started_at"], d["ended_at"] = _iso(self.started_at), _iso(self.ended_at)
        return d


@dataclass
class ObjectResult:
    """The outcome of one object (a notebook, a factory object, a trigger, a cluster)."""

    object_type: str
    name: str
    action: str  # create | update | delete | stop | start | unchanged | drifted | leave | ...
    status: str  # succeeded | failed | skipped
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # When the outcome happened (UTC, ISO 8601 with Z): set as the deployer records the result, so the
    # results of a deployment list in the order they happened. None on records written before it existed.
    at: str | None = field(default_factory=lambda: utc_now_iso(), compare=False)

    def __post_init__(self) -> None:
        if progress.active() and not _loading.get():
            progress.emit("object", self)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ObjectResult:
        token = _loading.set(True)  # read back from the ledger: not news
        try:
            return cls(d["object_type"], d["name"], d["action"], d["status"], d.get("error"),
                       d.get("details") or {}, d.get("at"))
        finally:
            _loading.reset(token)


_loading: ContextVar[bool] = ContextVar("dataops_loading_results", default=False)


def utc_now_iso() -> str:
    """Now in UTC as ``2026-01-05T10:00:00.123456Z``."""
    from datetime import UTC

    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Activity:
    """Anything that is not a deployment: toggles, schedule actions, approvals, drift, incidents."""

    environment: str
    kind: str  # trigger_toggle | environment_stop | environment_start | approval | drift | incident ...
    key: str  # idempotency key: the same key never records twice
    at: datetime
    actor: str | None = None
    status: str | None = None
    summary: str = ""
    deployment_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d
