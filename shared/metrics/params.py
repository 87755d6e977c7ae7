"""Validated requests of the metrics and incident APIs, shared by the HTTP handlers and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..audit.ledger import Page
from ..audit.queries import (
    DEFAULT_LIMIT,
    QueryParams,
    check_environment,
    one_of,
    parse_int,
    parse_time,
    reject_unknown,
)
from ..errors import BadRequest
from ..validation import optional_text
from .dora import BENCHMARKS, DEFINITIONS, DoraReport
from .incidents import INCIDENT_KINDS, INCIDENT_STATES, Incident, IncidentBook

if TYPE_CHECKING:
    from ..app import AppContext
    from ..identity import Principal

MAX_DAYS = 3650
DEFAULT_DAYS = 30
METRICS_PARAMS = frozenset({"environment", "days", "group_by", "definitions", "benchmark", "code"})
# group_by=developer is the per-developer view by commit author (its former name).
GROUP_BY = {"developer": "author", "author": "author", "pusher": "pusher"}


@dataclass(frozen=True)
class MetricsQuery:
    environment: str
    days: int = DEFAULT_DAYS
    by_developer: bool = False
    group_by: str = "author"
    definitions: str | None = None  # None: the configuration's metrics.definitions
    benchmark: int | None = None  # None: the configuration's metrics.benchmark

    @classmethod
    def parse(cls, params: Mapping[str, str], known: list[str], default_environment: str) -> MetricsQuery:
        """``environment`` (default: the production environment), ``days`` 1..3650,
        ``group_by=author|pusher`` (``developer`` = ``author``), ``definitions=dora|fourkeys``,
        ``benchmark=2023|2024``."""
        reject_unknown(params, METRICS_PARAMS)
        env = params.get("environment") or default_environment
        check_environment(env, known)
        days = parse_int("days", params["days"], 1, MAX_DAYS) if params.get("days") else DEFAULT_DAYS
        group = params.get("group_by") or None
        if group is not None and group not in GROUP_BY:
            raise BadRequest(f"group_by must be 'author' or 'pusher', not {group!r}", code="invalid_group_by")
        definitions = one_of("definitions", params.get("definitions") or None, DEFINITIONS)
        benchmark = one_of("benchmark", params.get("benchmark") or None, [str(y) for y in BENCHMARKS])
        return cls(env, days, group is not None, GROUP_BY.get(group or "author", "author"), definitions,
                   int(benchmark) if benchmark else None)

    def report(self, ctx: AppContext) -> DoraReport:
        """The report this query asks for, with the configuration's definitions, tiers and people."""
        from ..identity import People
        from .report import dora_report

        m = ctx.config.metrics
        bw = ctx.config.databricks.branch_workspaces
        return dora_report(ctx.ledger, self.environment, ctx.clock.now(), self.days, by_developer=self.by_developer,
                           definitions=self.definitions or m.definitions, benchmark=self.benchmark or int(m.benchmark),
                           group_by=self.group_by, resolve=People.of(ctx.config).resolve,
                           include_branch_syncs=bool(bw and bw.count_in_dora))


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
        kind = one_of("kind", optional_text(body, "kind") or "incident", INCIDENT_KINDS) or "incident"
        title = optional_text(body, "title")
        if not title:
            raise BadRequest("title is required", code="invalid_title")
        return cls(env, kind, title, optional_text(body, "caused_by"), _time(body, "opened_at"), optional_text(body, "key"))

    def open(self, ctx: AppContext, *, actor: Principal | None = None,
             dry_run: bool = False) -> tuple[Incident, bool]:
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

    def resolve(self, ctx: AppContext, incident_id: str, *, actor: Principal | None = None,
                dry_run: bool = False) -> tuple[Incident, bool]:
        return book(ctx).resolve(incident_id, resolved_at=self.resolved_at, actor=actor, note=self.note,
                                 dry_run=dry_run)


INCIDENT_PARAMS = frozenset({"environment", "state", "kind", "since", "until", "limit", "continuation", "code"})


@dataclass(frozen=True)
class IncidentQuery:
    """``GET /api/incidents`` and ``dataops incident list``: which incidents, newest first."""

    environments: tuple[str, ...]
    state: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    continuation: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], known: list[str]) -> IncidentQuery:
        """``environment`` (default all), ``state`` open|resolved, ``kind`` incident|data_quality,
        ``since``/``until`` (opening time, ISO 8601), ``limit`` 1..1000 (default 50), ``continuation``."""
        q = QueryParams(params, INCIDENT_PARAMS)
        envs = q.environments(known)
        state = q.one_of("state", INCIDENT_STATES)
        kind = q.one_of("kind", INCIDENT_KINDS)
        since, until = q.window()
        return cls(envs, state, kind, since, until, q.limit(), q.continuation())

    def run(self, ctx: AppContext) -> Page:
        return book(ctx).page(self.environments, state=self.state, kind=self.kind, since=self.since,
                              until=self.until, limit=self.limit, continuation=self.continuation)

    def answer(self, ctx: AppContext) -> dict[str, Any]:
        """The JSON answer: ``{"items": [...], "count": n, "continuation": token or null}``."""
        page = self.run(ctx)
        items = [i.to_json() for i in page.items]
        return {"items": items, "count": len(items), "continuation": page.continuation}
