"""History queries over the audit ledger, with the parameter checks the HTTP API and the CLI share.

Every read is a RowKey range inside one environment's partition (newest first,
the log-tail pattern); a query over all environments reads one range per
environment and merges them. Nothing here scans a table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import BadRequest
from . import keys
from .ledger import AuditLedger, Page, decode_token, encode_token
from .records import FINAL_STATUSES, Activity, DeploymentRecord

STATUSES = ("queued", "waiting_lock", "waiting_window", "waiting_approval", "planning", "running",
            *sorted(FINAL_STATUSES))
ENV_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
COMMIT_PREFIX = re.compile(r"^[0-9a-f]{4,40}$")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
# Query parameters the API knows; ``code`` is the Functions key Azure passes along.
HISTORY_PARAMS = frozenset({"environment", "component", "status", "since", "until", "actor", "commit",
                            "limit", "continuation", "include", "code", "branch"})


def parse_time(name: str, value: str) -> datetime:
    """ISO 8601 (``2026-01-05``, ``2026-01-05T10:00:00Z``, with offset); no zone means UTC."""
    text = value.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not an ISO 8601 time (e.g. 2026-01-05T10:00:00Z)",
                         code="invalid_time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise BadRequest(f"{name}: {value!r} is not a whole number", code=f"invalid_{name}") from None
    if not low <= number <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {number}", code=f"invalid_{name}")
    return number


def check_environment(value: str, known: list[str] | None = None) -> str:
    if not ENV_NAME.match(value):
        raise BadRequest(f"environment: {value!r} is not an environment name", code="invalid_environment")
    if known is not None and value not in known:
        raise BadRequest(f"environment: unknown environment {value!r} (configured: {', '.join(known) or 'none'})",
                         code="unknown_environment")
    return value


def reject_unknown(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(allowed - {'code'}))})", code="unknown_parameter")


def one_of(name: str, value: str | None, options: Sequence[str]) -> str | None:
    """``value`` when it is one of ``options`` (None when not given); else a 400 naming the parameter."""
    if value is not None and value not in options:
        raise BadRequest(f"{name} must be one of {', '.join(options)}, not {value!r}", code=f"invalid_{name}")
    return value


class QueryParams:
    """The checks every history query shares (deployments, incidents): unknown parameters, which
    environments, choices, the ``since``/``until`` window, ``limit`` and ``continuation``.

    Parameters that are missing, empty or blank count as not given. Each check raises the same
    :class:`BadRequest` wherever it is used; a query calls them in the order it validates in.
    """

    def __init__(self, params: Mapping[str, str], allowed: frozenset[str]) -> None:
        reject_unknown(params, allowed)
        self.given = {k: v for k, v in params.items() if v is not None and str(v).strip() != ""}

    def environments(self, known: list[str]) -> tuple[str, ...]:
        """The one ``environment`` named, else every known one."""
        if "environment" in self.given:
            return (check_environment(self.given["environment"], known),)
        return tuple(known)

    def one_of(self, name: str, options: Sequence[str]) -> str | None:
        return one_of(name, self.given.get(name), options)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """``since`` and ``until`` (ISO 8601), ``since`` not after ``until``."""
        p = self.given
        since = parse_time("since", p["since"]) if "since" in p else None
        until = parse_time("until", p["until"]) if "until" in p else None
        if since and until and since > until:
            raise BadRequest("since must not be after until", code="invalid_time")
        return since, until

    def limit(self) -> int:
        return parse_int("limit", self.given["limit"], 1, MAX_LIMIT) if "limit" in self.given else DEFAULT_LIMIT

    def continuation(self) -> str | None:
        """The token, checked before any read (a bad one is a 400)."""
        token = self.given.get("continuation")
        decode_token(token)
        return token


@dataclass(frozen=True)
class HistoryQuery:
    """A validated history query."""

    environments: tuple[str, ...]
    component: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    commit: str | None = None
    limit: int = DEFAULT_LIMIT
    continuation: str | None = None
    include_activity: bool = False
    branch: str | None = None  # deployments of refs/heads/<branch> (branch workspaces: trigger branch)

    @classmethod
    def parse(cls, params: Mapping[str, str], known_environments: list[str],
              components: Sequence[str]) -> HistoryQuery:
        """Validate raw query parameters (``components``: the registered names); a bad value names the parameter."""
        q = QueryParams(params, HISTORY_PARAMS)
        p = q.given
        envs = q.environments(known_environments)
        component = q.one_of("component", components)
        status = q.one_of("status", STATUSES)
        since, until = q.window()
        actor = p.get("actor")
        if actor is not None and len(actor) > 200:
            raise BadRequest("actor is longer than 200 characters", code="invalid_actor")
        commit = p.get("commit")
        if commit is not None:
            commit = commit.lower()
            if not COMMIT_PREFIX.match(commit):
                raise BadRequest(f"commit: {p['commit']!r} is not a commit SHA or prefix (4 to 40 hex digits)",
                                 code="invalid_commit")
        limit = q.limit()
        include = p.get("include")
        if include is not None and include not in ("activity", "deployments"):
            raise BadRequest("include must be 'activity' (deployments and activities) or 'deployments'",
                             code="invalid_include")
        include_activity = include == "activity"
        if include_activity and len(envs) != 1:
            raise BadRequest("include=activity needs one environment", code="invalid_include")
        token = q.continuation()
        branch = p.get("branch")
        if branch is not None and (len(branch) > 1000 or include_activity):
            raise BadRequest("branch must be a branch name (up to 1000 characters), without include=activity",
                             code="invalid_branch")
        return cls(envs, component, status, since, until, actor, commit, limit, token, include_activity, branch)


def list_history(ledger: AuditLedger, q: HistoryQuery) -> Page:
    """Deployments matching ``q`` newest first; with ``include_activity`` merged with the activities."""
    if not q.environments:
        return Page([], None)
    if not q.include_activity:
        return ledger.list_many(list(q.environments), since=q.since, until=q.until, component=q.component,
                                status=q.status, actor=q.actor, commit=q.commit, limit=q.limit,
                                continuation=q.continuation, ref=f"refs/heads/{q.branch}" if q.branch else None)
    return environment_history(ledger, q.environments[0], since=q.since, until=q.until, limit=q.limit,
                               continuation=q.continuation)


def _deployment_row(rec: DeploymentRecord) -> str:
    return keys.DeploymentKey(rec.id).row


def _activity_row(a: Activity) -> str:
    return a.id.partition("~")[2]


def environment_history(ledger: AuditLedger, environment: str, *, since: datetime | None = None,
                        until: datetime | None = None, limit: int = DEFAULT_LIMIT,
                        continuation: str | None = None) -> Page:
    """Deployments and activities (toggles, schedule actions, drift, approvals, incidents) of one
    environment, newest first; each item is ``{"type": "deployment"|"activity", ...}``.

    Both tables key rows by inverted time, so each source is read as one RowKey range and the two
    are merged; the continuation token remembers the last row taken from each.
    """
    state = decode_token(continuation) if continuation else {}
    d_token = encode_token({environment: state["d"]}) if "d" in state else None
    a_token = encode_token({environment: state["a"]}) if "a" in state else None
    deps = ledger.list_deployments(environment, since=since, until=until, limit=limit, continuation=d_token) \
        if state.get("d_done") != "1" else Page([], None)
    acts = ledger.list_activity(environment, since=since, until=until, limit=limit, continuation=a_token) \
        if state.get("a_done") != "1" else Page([], None)
    merged: list[tuple[str, str, Any]] = [(_deployment_row(d), "deployment", d) for d in deps.items]
    merged += [(_activity_row(a), "activity", a) for a in acts.items]
    merged.sort(key=lambda t: t[0])  # inverted time: ascending = newest first
    chosen = merged[:limit]
    items = [{"type": kind, **obj.to_json(**({"include_plan": False} if kind == "deployment" else {}))}
             for _, kind, obj in chosen]
    next_state = dict(state)
    for row, kind, _ in chosen:
        next_state["d" if kind == "deployment" else "a"] = row
    # A source is exhausted when it returned everything it had and all of it was taken.
    for short, page, kind in (("d", deps, "deployment"), ("a", acts, "activity")):
        taken = sum(1 for _, k, _ in chosen if k == kind)
        if page.continuation is None and taken == len(page.items):
            next_state[f"{short}_done"] = "1"
    more = len(merged) > limit or deps.continuation is not None or acts.continuation is not None
    return Page(items, encode_token(next_state) if more else None)


def deployment_detail(ledger: AuditLedger, deployment_id: str) -> dict[str, Any]:
    """One deployment with its plan, steps, per-object results and status history (NotFound if none)."""
    rec = ledger.get_deployment(deployment_id, with_plan=True)
    body = rec.to_json(include_plan=True)
    body["steps"] = ledger.steps(deployment_id)
    body["objects"] = [o.to_json() for o in ledger.objects(deployment_id)]
    body["status_history"] = ledger.status_history(deployment_id)
    return body
