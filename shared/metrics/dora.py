"""The DORA keys, computed from deployment records and incidents (pure: no I/O, no clock).

Definitions (docs/metrics.md states them the same way):

* counted deployments: final status ``succeeded``, ``failed`` or ``rolled_back``
  (``superseded`` and ``rejected`` never ran), created inside the window;
* deployment frequency: successful deployments / window days;
* lead time: each commit a successful deployment carried, counted once per
  environment, from its own timestamp to the end of the first successful
  deployment that carried it (median and p90, nearest rank);
* change failure rate: counted deployments that failed (``failed`` or
  ``rolled_back``) or were named (or attributed) as the cause of an incident,
  over all counted deployments;
* time to restore: median of (a) from the first failed deployment of a
  component to the next successful deployment of that component, and (b) from
  an incident's opening to its resolution;
* rework rate: counted deployments that are rollbacks (trigger ``rollback`` or
  status ``rolled_back``) or follow a failed deployment of the same component,
  over all counted deployments;
* data-quality issues: ``data_quality`` incidents opened in the window, per week.

Tiers are the DORA 2023 State of DevOps benchmark.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..audit import CommitInfo, DeploymentRecord
from ..audit.keys import DeploymentKey
from .incidents import Incident

BENCHMARK = "DORA 2023"
COUNTED = frozenset({"succeeded", "failed", "rolled_back"})
FAILED = frozenset({"failed", "rolled_back"})
UNKNOWN_ACTOR = "(unknown)"
HOUR, DAY = 3600.0, 86400.0


# ----------------------------------------------------------------- tiers
def frequency_tier(per_day: float) -> str:
    """Elite: on demand (daily or more); high: daily to weekly; medium: weekly to monthly; low: less."""
    if per_day >= 1:
        return "elite"
    if per_day >= 1 / 7:
        return "high"
    if per_day >= 1 / 30:
        return "medium"
    return "low"


def lead_time_tier(seconds: float | None) -> str | None:
    """Elite < 1 day; high < 1 week; medium < 1 month (30 days); low otherwise."""
    if seconds is None:
        return None
    if seconds < DAY:
        return "elite"
    if seconds < 7 * DAY:
        return "high"
    if seconds < 30 * DAY:
        return "medium"
    return "low"


def failure_rate_tier(rate: float | None) -> str | None:
    """Elite <= 5%; high <= 10%; medium <= 15%; low above (the 2023 low cluster is 64%)."""
    if rate is None:
        return None
    if rate <= 0.05:
        return "elite"
    if rate <= 0.10:
        return "high"
    if rate <= 0.15:
        return "medium"
    return "low"


def restore_tier(seconds: float | None) -> str | None:
    """Elite < 1 hour; high < 1 day; medium < 1 week; low otherwise."""
    if seconds is None:
        return None
    if seconds < HOUR:
        return "elite"
    if seconds < DAY:
        return "high"
    if seconds < 7 * DAY:
        return "medium"
    return "low"


# ---------------------------------------------------------------- window
@dataclass(frozen=True)
class Window:
    """A closed time window ``[start, end]``."""

    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, now: datetime, days: int) -> Window:
        return cls(now - timedelta(days=days), now)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / DAY

    def __contains__(self, when: datetime | None) -> bool:
        return when is not None and self.start <= when <= self.end

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": round(self.days, 6)}


def created_at(rec: DeploymentRecord) -> datetime:
    """When a deployment was created: its queued time, else the time its id carries."""
    return rec.queued_at or DeploymentKey(rec.id).created


def carried_commits(rec: DeploymentRecord) -> list[CommitInfo]:
    """The commits a deployment carried; the head commit is always among them."""
    commits = list(rec.commits)
    if rec.commit and all(c.id != rec.commit for c in commits):
        commits.append(CommitInfo(rec.commit, rec.commit_time))
    return commits


# ----------------------------------------------------------------- facts
@dataclass(frozen=True)
class DeploymentFact:
    id: str
    actor: str
    succeeded: bool
    failed: bool
    caused_incident: bool
    rollback: bool
    fix: bool


@dataclass
class Facts:
    """Per-event facts, each tagged with the developer it belongs to, so any slice sums the same way."""

    deployments: list[DeploymentFact] = field(default_factory=list)
    lead_times: list[tuple[str, float, datetime]] = field(default_factory=list)  # (actor, seconds, deployed)
    restores: list[tuple[str, float]] = field(default_factory=list)
    open_failures: list[str] = field(default_factory=list)
    quality: list[tuple[str, bool]] = field(default_factory=list)  # (actor, still open)


def _actor(rec: DeploymentRecord | None) -> str:
    return (rec.actor if rec and rec.actor else None) or UNKNOWN_ACTOR


def collect_facts(deployments: Iterable[DeploymentRecord], incidents: Iterable[Incident],
                  window: Window) -> Facts:
    """Turn history into facts. ``deployments`` may reach back before the window (commits already
    deployed there are not counted again); only deployments created inside the window are counted."""
    done = [d for d in deployments if d.status in COUNTED and d.ended_at is not None]
    done.sort(key=lambda d: (d.ended_at, d.id))  # type: ignore[arg-type,return-value]
    by_id = {d.id: d for d in done}
    incidents = list(incidents)
    causes = {i.deployment_id for i in incidents if i.deployment_id}
    facts = Facts()

    seen_commits: set[str] = set()
    previous_failed: dict[str, bool] = {}  # component -> did its last counted deployment fail
    failing_since: dict[str, DeploymentRecord] = {}  # component -> first failure of an open episode
    for d in done:
        inside = created_at(d) in window
        failed = d.status in FAILED
        ended: datetime = d.ended_at  # type: ignore[assignment]
        if d.status == "succeeded":
            for c in carried_commits(d):
                if c.id in seen_commits:
                    continue
                seen_commits.add(c.id)
                if inside and c.timestamp is not None:
                    # A commit stamped after its deployment ended (clock skew) counts as zero, not negative.
                    facts.lead_times.append((_actor(d), max(0.0, (ended - c.timestamp).total_seconds()), ended))
        if inside:
            rollback = d.trigger == "rollback" or d.status == "rolled_back"
            facts.deployments.append(DeploymentFact(
                id=d.id, actor=_actor(d), succeeded=d.status == "succeeded", failed=failed,
                caused_incident=d.id in causes, rollback=rollback,
                fix=not rollback and previous_failed.get(d.component, False)))
        previous_failed[d.component] = failed
        opener = failing_since.get(d.component)
        if failed and opener is None:
            failing_since[d.component] = d
        elif d.status == "succeeded" and opener is not None:
            del failing_since[d.component]
            if created_at(opener) in window:
                facts.restores.append((_actor(opener), (ended - opener.ended_at).total_seconds()))  # type: ignore[operator]
    facts.open_failures.extend(_actor(o) for o in failing_since.values() if created_at(o) in window)

    for inc in incidents:
        if inc.opened_at not in window:
            continue
        actor = _actor(by_id.get(inc.deployment_id or ""))
        if inc.kind == "data_quality":
            facts.quality.append((actor, not inc.resolved))
        elif inc.resolved_at is not None:
            facts.restores.append((actor, max(0.0, (inc.resolved_at - inc.opened_at).total_seconds())))
        else:
            facts.open_failures.append(actor)
    return facts


# --------------------------------------------------------------- summary
def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: the value at rank ceil(0.9 n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarise(facts: Facts, window: Window, keep: Callable[[str], bool] = lambda _a: True) -> dict[str, Any]:
    """The six keys over the facts whose developer passes ``keep``."""
    deps = [f for f in facts.deployments if keep(f.actor)]
    total = len(deps)
    successes = sum(f.succeeded for f in deps)
    days = window.days or 1.0
    per_day = successes / days
    leads = [s for a, s, _ in facts.lead_times if keep(a)]
    restores = [s for a, s in facts.restores if keep(a)]
    failed = sum(f.failed for f in deps)
    caused = sum(f.caused_incident and not f.failed for f in deps)
    rollbacks = sum(f.rollback for f in deps)
    fixes = sum(f.fix for f in deps)
    quality = [o for a, o in facts.quality if keep(a)]
    lead_median, restore_median = median(leads), median(restores)
    cfr = _ratio(failed + caused, total)
    return {
        "deployments": total,
        "deployment_frequency": {
            "successful": successes, "per_day": per_day, "per_week": per_day * 7,
            "tier": frequency_tier(per_day),
        },
        "lead_time": {
            "commits": len(leads), "median_seconds": lead_median, "p90_seconds": p90(leads),
            "tier": lead_time_tier(lead_median),
        },
        "change_failure_rate": {
            "value": cfr, "failed": failed, "caused_incident": caused, "deployments": total,
            "tier": failure_rate_tier(cfr),
        },
        "time_to_restore": {
            "median_seconds": restore_median, "restores": len(restores),
            "open": sum(1 for a in facts.open_failures if keep(a)), "tier": restore_tier(restore_median),
        },
        "rework_rate": {
            "value": _ratio(rollbacks + fixes, total), "rollbacks": rollbacks, "fixes": fixes,
            "deployments": total, "tier": None,  # DORA 2023 publishes no rework tiers
        },
        "data_quality": {
            "issues": len(quality), "open": sum(quality), "per_week": len(quality) / days * 7,
        },
    }


@dataclass
class DoraReport:
    environment: str
    window: Window
    keys: dict[str, Any]
    by_developer: dict[str, dict[str, Any]] | None = None
    # What the keys were computed from (for the dashboard's charts); not part of the JSON answer.
    facts: Facts | None = None
    deployments: list[DeploymentRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"environment": self.environment, "benchmark": BENCHMARK,
                                "window": self.window.to_json(), **self.keys}
        if self.by_developer is not None:
            body["by_developer"] = self.by_developer
        return body


def compute_dora(environment: str, deployments: Iterable[DeploymentRecord], incidents: Iterable[Incident],
                 window: Window, *, by_developer: bool = False) -> DoraReport:
    """The DORA report of one environment over ``window`` (see the module docstring for definitions)."""
    deployments = list(deployments)
    facts = collect_facts(deployments, incidents, window)
    per_dev: dict[str, dict[str, Any]] | None = None
    if by_developer:
        actors = sorted({f.actor for f in facts.deployments} | {a for a, _, _ in facts.lead_times}
                        | {a for a, _ in facts.restores} | {a for a, _ in facts.quality})
        per_dev = {a: summarise(facts, window, lambda x, a=a: x == a) for a in actors}  # type: ignore[misc]
    inside = sorted((d for d in deployments if created_at(d) in window), key=created_at, reverse=True)
    return DoraReport(environment, window, summarise(facts, window), per_dev, facts, inside)
