"""Audit records: plain data, with their Table entity form."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

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


@dataclass
class CommitInfo:
    id: str
    timestamp: datetime | None = None
    author: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "timestamp": _iso(self.timestamp), "author": self.author,
                "message": (self.message or "")[:200] or None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CommitInfo:
        return cls(d["id"], _dt(d.get("timestamp")), d.get("author"), d.get("message"))


@dataclass
class DeploymentRecord:
    id: str
    environment: str
    component: str
    commit: str
    ref: str = ""
    repository: str = ""
    actor: str | None = None
    trigger: str = "push"
    status: str = "queued"
    queued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    commit_time: datetime | None = None
    commits: list[CommitInfo] = field(default_factory=list)
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
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
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
        return d

    # JSON-valued properties of the entity
    _JSON = ("commits", "summary", "error_details", "plan", "extra")
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
    action: str  # create | update | delete | stop | start | unchanged | drifted | ...
    status: str  # succeeded | failed | skipped
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ObjectResult:
        return cls(d["object_type"], d["name"], d["action"], d["status"], d.get("error"),
                   d.get("details") or {})


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
