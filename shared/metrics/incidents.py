"""Incidents and data-quality issues, stored as ledger activities of kind ``incident``.

An incident names what caused it (a deployment id or a commit). When nothing is
named it is attributed to the latest successful deployment of its environment
that ended before it, within ``metrics.incident_attribution_days`` (Four Keys'
rule, made configurable), and the record says so in ``cause.note``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ..audit import Activity, AuditLedger, DeploymentRecord
from ..audit.keys import is_deployment_id
from ..audit.ledger import Page, decode_token, encode_token, newest_page
from ..clock import Clock
from ..errors import BadRequest, NotFound

if TYPE_CHECKING:
    from ..identity import Principal

ACTIVITY_KIND = "incident"
IncidentKind = Literal["incident", "data_quality"]
INCIDENT_KINDS: tuple[str, ...] = ("incident", "data_quality")
INCIDENT_STATES: tuple[str, ...] = ("open", "resolved")
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
# How far back a named commit is looked up among an environment's deployments.
COMMIT_LOOKBACK = timedelta(days=365)
# A deployment is created before it ends; widen the creation-time range by this much.
CREATION_SLACK = timedelta(days=1)


@dataclass
class Incident:
    """One incident or data-quality issue of an environment."""

    id: str
    environment: str
    kind: str
    title: str
    opened_at: datetime
    status: str = "open"  # open | resolved
    resolved_at: datetime | None = None
    deployment_id: str | None = None  # the deployment held responsible (named or attributed)
    cause: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    # How the reporter and the resolver are known (as deployment records' actor_verified/actor_source).
    actor_verified: bool | None = None
    actor_source: str | None = None
    resolved_by_verified: bool | None = None
    resolved_by_source: str | None = None

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "environment": self.environment, "kind": self.kind, "title": self.title,
            "status": self.status, "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "deployment_id": self.deployment_id, "cause": self.cause, "actor": self.actor,
            "actor_verified": self.actor_verified, "actor_source": self.actor_source,
            "resolved_by": self.resolved_by, "resolved_by_verified": self.resolved_by_verified,
            "resolved_by_source": self.resolved_by_source, "resolution": self.resolution,
        }

    @classmethod
    def from_activity(cls, a: Activity) -> Incident:
        d = a.data
        resolved = d.get("resolved_at")
        return cls(id=a.id, environment=a.environment, kind=str(d.get("kind", "incident")),
                   title=str(d.get("title", a.summary)), opened_at=a.at, status=a.status or "open",
                   resolved_at=datetime.fromisoformat(resolved) if resolved else None,
                   deployment_id=a.deployment_id, cause=dict(d.get("cause") or {}), actor=a.actor,
                   resolved_by=d.get("resolved_by"), resolution=d.get("resolution"),
                   actor_verified=d.get("actor_verified"), actor_source=d.get("actor_source"),
                   resolved_by_verified=d.get("resolved_by_verified"),
                   resolved_by_source=d.get("resolved_by_source"))

    def to_activity(self, key: str) -> Activity:
        data: dict[str, Any] = {"kind": self.kind, "title": self.title, "cause": self.cause}
        if self.actor_source is not None:
            data.update(actor_verified=self.actor_verified, actor_source=self.actor_source)
        if self.resolved_at:
            data.update(resolved_at=self.resolved_at.isoformat(), resolved_by=self.resolved_by,
                        resolution=self.resolution)
            if self.resolved_by_source is not None:
                data.update(resolved_by_verified=self.resolved_by_verified,
                            resolved_by_source=self.resolved_by_source)
        return Activity(environment=self.environment, kind=ACTIVITY_KIND, key=key, at=self.opened_at,
                        actor=self.actor, status=self.status, summary=f"{self.kind}: {self.title}"[:2000],
                        deployment_id=self.deployment_id, data=data, id=self.id)


def carries(rec: DeploymentRecord, commit: str) -> bool:
    """Whether a deployment carried ``commit`` (its head or one of its listed commits; prefixes match)."""
    ids = [rec.commit, *(c.id for c in rec.commits)]
    return any(i == commit or (len(commit) < 40 and i.startswith(commit)) for i in ids if i)


class IncidentBook:
    """Opens, resolves and lists incidents of the environments on the audit ledger."""

    def __init__(self, ledger: AuditLedger, clock: Clock, *, attribution_days: int = 7) -> None:
        self.ledger = ledger
        self.clock = clock
        self.attribution_days = attribution_days

    # --------------------------------------------------------------- causes
    def _named_deployment(self, environment: str, deployment_id: str) -> dict[str, Any]:
        try:
            rec = self.ledger.get_deployment(deployment_id, with_plan=False)
        except NotFound:
            raise BadRequest(f"caused_by: deployment {deployment_id!r} does not exist",
                             code="unknown_deployment") from None
        if rec.environment != environment:
            raise BadRequest(f"caused_by: deployment {deployment_id} belongs to environment "
                             f"{rec.environment!r}, not {environment!r}", code="invalid_cause")
        return {"kind": "deployment", "value": deployment_id, "deployment_id": deployment_id,
                "note": "cause named by the reporter"}

    def _named_commit(self, environment: str, commit: str, opened_at: datetime) -> dict[str, Any]:
        # The latest successful deployment that carried the commit before the incident is the culprit.
        found: DeploymentRecord | None = None
        for rec in self.ledger.iter_deployments(environment, since=opened_at - COMMIT_LOOKBACK, until=opened_at):
            if rec.status == "succeeded" and rec.ended_at and rec.ended_at <= opened_at and carries(rec, commit):
                found = rec  # newest first by creation: the first match is the latest
                break
        if found is None:
            return {"kind": "commit", "value": commit, "deployment_id": None,
                    "note": f"cause named as commit {commit}; no successful deployment of {environment} "
                            "carried it before the incident"}
        return {"kind": "commit", "value": commit, "deployment_id": found.id,
                "note": f"cause named as commit {commit}, deployed to {environment} by {found.id}"}

    def _attributed(self, environment: str, opened_at: datetime) -> dict[str, Any]:
        days = self.attribution_days
        if days <= 0:
            return {"kind": "none", "value": None, "deployment_id": None,
                    "note": "no cause named; attribution is switched off (incident_attribution_days: 0)"}
        earliest = opened_at - timedelta(days=days)
        best: DeploymentRecord | None = None
        for rec in self.ledger.iter_deployments(environment, since=earliest - CREATION_SLACK, until=opened_at):
            if rec.status != "succeeded" or rec.ended_at is None:
                continue
            if earliest <= rec.ended_at <= opened_at and (best is None or rec.ended_at > best.ended_at):  # type: ignore[operator]
                best = rec
        if best is None:
            return {"kind": "none", "value": None, "deployment_id": None,
                    "note": f"no cause named and no successful deployment of {environment} in the "
                            f"{days} days before the incident: not attributed"}
        return {"kind": "attributed", "value": best.id, "deployment_id": best.id,
                "note": f"no cause named: attributed to the latest successful deployment of {environment} "
                        f"before the incident (within {days} days)"}

    # ------------------------------------------------------------ operations
    def open(self, environment: str, kind: str, title: str, *, caused_by: str | None = None,
             opened_at: datetime | None = None, actor: Principal | str | None = None,
             key: str | None = None, dry_run: bool = False) -> tuple[Incident, bool]:
        """Record an incident; returns (incident, created). The same ``key`` records once.

        ``actor`` is the reporter as the caller established it (App Service Authentication, the CLI's
        sign-in or local identity); a plain name is an in-process caller's (taken as verified).

        With ``dry_run`` everything is checked and the cause worked out, but nothing is written.
        """
        if kind not in INCIDENT_KINDS:
            raise BadRequest(f"kind must be one of {', '.join(INCIDENT_KINDS)}, not {kind!r}", code="invalid_kind")
        title = (title or "").strip()
        if not title or len(title) > 200:
            raise BadRequest("title is required (1 to 200 characters)", code="invalid_title")
        now = self.clock.now()
        opened_at = opened_at or now
        if opened_at.tzinfo is None:
            raise BadRequest("opened_at must carry a time zone", code="invalid_time")
        if opened_at > now + timedelta(minutes=5):
            raise BadRequest("opened_at is in the future", code="invalid_time")
        if caused_by:
            caused_by = caused_by.strip()
            if is_deployment_id(caused_by):
                cause = self._named_deployment(environment, caused_by)
            elif COMMIT.match(caused_by.lower()):
                cause = self._named_commit(environment, caused_by.lower(), opened_at)
            else:
                raise BadRequest("caused_by must be a deployment id or a commit SHA (7 to 40 hex digits)",
                                 code="invalid_cause")
        else:
            cause = self._attributed(environment, opened_at)
        key = key or f"{kind}|{title}|{opened_at.isoformat()}|{caused_by or ''}"
        from ..identity import as_principal  # the app's start-up imports no pydantic

        who = as_principal(actor)
        incident = Incident(id="", environment=environment, kind=kind, title=title, opened_at=opened_at,
                            deployment_id=cause.get("deployment_id"), cause=cause,
                            actor=who.name if who else None, actor_verified=who.verified if who else None,
                            actor_source=who.source if who else None)
        if dry_run:
            return incident, False
        activity, created = self.ledger.record_activity(incident.to_activity(key))
        if not created:
            return self.get(activity.id), False
        incident.id = activity.id
        return incident, True

    def get(self, incident_id: str) -> Incident:
        """One incident by id; NotFound for anything else."""
        if "~" not in incident_id:
            raise NotFound(f"incident {incident_id!r} not found", code="unknown_incident")
        try:
            activity = self.ledger.get_activity(incident_id)
        except NotFound:
            raise NotFound(f"incident {incident_id!r} not found", code="unknown_incident") from None
        if activity.kind != ACTIVITY_KIND:
            raise NotFound(f"incident {incident_id!r} not found", code="unknown_incident")
        return Incident.from_activity(activity)

    def resolve(self, incident_id: str, *, resolved_at: datetime | None = None,
                actor: Principal | str | None = None,
                note: str | None = None, dry_run: bool = False) -> tuple[Incident, bool]:
        """Mark an incident resolved; returns (incident, changed). Resolving twice changes nothing."""
        incident = self.get(incident_id)
        if incident.resolved:
            return incident, False
        resolved_at = resolved_at or self.clock.now()
        if resolved_at.tzinfo is None:
            raise BadRequest("resolved_at must carry a time zone", code="invalid_time")
        if resolved_at < incident.opened_at:
            raise BadRequest(f"resolved_at {resolved_at.isoformat()} is before the incident opened "
                             f"({incident.opened_at.isoformat()})", code="invalid_time")
        if resolved_at > self.clock.now() + timedelta(minutes=5):
            raise BadRequest("resolved_at is in the future", code="invalid_time")
        incident.status, incident.resolved_at = "resolved", resolved_at
        from ..identity import as_principal  # the app's start-up imports no pydantic

        who = as_principal(actor)
        incident.resolved_by, incident.resolution = who.name if who else None, (note or None) and str(note)[:1000]
        incident.resolved_by_verified = who.verified if who else None
        incident.resolved_by_source = who.source if who else None
        if dry_run:
            return incident, False
        stored = self.ledger.get_activity(incident_id)
        self.ledger.update_activity(incident.to_activity(stored.key))
        return incident, True

    def list(self, environment: str, *, since: datetime | None = None,
             until: datetime | None = None) -> list[Incident]:
        """Incidents opened in a time window, newest first (one partition range of the activity table)."""
        return [Incident.from_activity(a) for a in
                self.ledger.iter_activity(environment, since=since, until=until, kind=ACTIVITY_KIND)]

    def page(self, environments: Sequence[str], *, state: str | None = None, kind: str | None = None,
             since: datetime | None = None, until: datetime | None = None, limit: int = 50,
             continuation: str | None = None) -> Page:
        """Incidents of ``environments`` opened in ``[since, until]``, newest first, with ``state`` and
        ``kind`` if given; one RowKey range of the activity table per environment, merged.

        The continuation token holds the last row taken from each environment (as deployments' do).
        """
        cursor = decode_token(continuation)
        heads: list[tuple[str, str, Incident]] = []
        for env in environments:
            token = encode_token({env: cursor[env]}) if env in cursor else None
            found = 0
            while True:  # the state and the kind are inside the record: filter here, page on
                got = self.ledger.list_activity(env, since=since, until=until, kind=ACTIVITY_KIND, limit=1000,
                                                continuation=token)
                for a in got.items:
                    inc = Incident.from_activity(a)
                    if (state is None or inc.status == state) and (kind is None or inc.kind == kind):
                        heads.append((a.id.partition("~")[2], env, inc))
                        found += 1
                if found > limit or got.continuation is None:
                    break
                token = got.continuation
        chosen, token = newest_page(heads, cursor, limit)
        return Page(chosen, token)
