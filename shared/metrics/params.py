"""Validated requests of the metrics and incident APIs, shared by the HTTP handlers and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..audit.queries import check_environment, parse_int, parse_time, reject_unknown
from ..errors import BadRequest
from ..validation import optional_text
from .incidents import INCIDENT_KINDS, Incident, IncidentBook

if TYPE_CHECKING:
    from ..app import AppContext

MAX_DAYS = 3650
DEFAULT_DAYS = 30
METRICS_PARAMS = frozenset({"environment", "days", "group_by", "code"})


@dataclass(frozen=True)
class MetricsQuery:
    environment: str
    days: int = DEFAULT_DAYS
    by_developer: bool = False

    @classmethod
    def parse(cls, params: Mapping[str, str], known: list[str], default_environment: str) -> MetricsQuery:
        """``environment`` (default: the production environment), ``days`` 1..3650, ``group_by=developer``."""
        reject_unknown(params, METRICS_PARAMS)
        env = params.get("environment") or default_environment
        check_environment(env, known)
        days = parse_int("days", params["days"], 1, MAX_DAYS) if params.get("days") else DEFAULT_DAYS
        group = params.get("group_by")
        if group not in (None, "", "developer"):
            raise BadRequest(f"group_by must be 'developer', not {group!r}", code="invalid_group_by")
        return cls(env, days, group == "developer")


def book(ctx: AppContext) -> IncidentBook:
    return IncidentBook(ctx.ledger, ctx.clock, attribution_days=ctx.config.metrics.incident_attribution_days)


def _time(body: Mapping[str, Any], name: str) -> datetime | None:
    value = optional_text(body, name)
    return parse_time(name, value) if value else None


@dataclass(frozen=True)
class IncidentOpening:
    environment: str
    kind: str
    title: str
    caused_by: str | None = None
    opened_at: datetime | None = None
    key: str | None = None

    FIELDS = frozenset({"environment", "kind", "title", "caused_by", "opened_at", "key", "actor"})

    @classmethod
    def parse(cls, body: Mapping[str, Any], known: list[str]) -> IncidentOpening:
        """Body: environment, kind (incident|data_quality, default incident), title, caused_by, opened_at, key."""
        unknown = sorted(set(body) - cls.FIELDS)
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(unknown)}", code="unknown_field")
        env = optional_text(body, "environment")
        if not env:
            raise BadRequest("environment is required", code="invalid_environment")
        check_environment(env, known)
        kind = optional_text(body, "kind") or "incident"
        if kind not in INCIDENT_KINDS:
            raise BadRequest(f"kind must be one of {', '.join(INCIDENT_KINDS)}, not {kind!r}", code="invalid_kind")
        title = optional_text(body, "title")
        if not title:
            raise BadRequest("title is required", code="invalid_title")
        return cls(env, kind, title, optional_text(body, "caused_by"), _time(body, "opened_at"), optional_text(body, "key"))

    def open(self, ctx: AppContext, *, actor: str | None = None, dry_run: bool = False) -> tuple[Incident, bool]:
        return book(ctx).open(self.environment, self.kind, self.title, caused_by=self.caused_by,
                              opened_at=self.opened_at, actor=actor, key=self.key, dry_run=dry_run)


@dataclass(frozen=True)
class ResolutionRequest:
    resolved_at: datetime | None = None
    note: str | None = None

    FIELDS = frozenset({"resolved_at", "note", "actor"})

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ResolutionRequest:
        """Body (optional): resolved_at (ISO 8601, default now), note."""
        unknown = sorted(set(body) - cls.FIELDS)
        if unknown:
            raise BadRequest(f"unknown field(s): {', '.join(unknown)}", code="unknown_field")
        return cls(_time(body, "resolved_at"), optional_text(body, "note"))

    def resolve(self, ctx: AppContext, incident_id: str, *, actor: str | None = None,
                dry_run: bool = False) -> tuple[Incident, bool]:
        return book(ctx).resolve(incident_id, resolved_at=self.resolved_at, actor=actor, note=self.note,
                                 dry_run=dry_run)
