"""The DORA keys, computed from deployment records and incidents (pure: no I/O, no clock).

Two sets of definitions (``metrics.definitions``; docs/metrics.md states them with their sources):

* ``dora`` (default): the 2024 Accelerate State of DevOps report's keys: deployment frequency,
  change lead time, change failure rate, failed-deployment recovery time and rework rate;
* ``fourkeys``: the Four Keys project's queries (github.com/dora-team/fourkeys): change failure
  rate = successful deployments linked to incidents / successful deployments, time to restore
  from the earlier of the causing deployment and the incident's opening, Four Keys' deployment
  frequency buckets, lead time samples under a minute left out.

Tiers come from the 2023 or the 2024 report's table (``metrics.benchmark``). Every key in the
answer names the definition and the tier table that produced it.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..audit import CommitInfo, DeploymentRecord
from ..audit.keys import DeploymentKey
from .incidents import Incident

COUNTED = frozenset({"succeeded", "failed", "rolled_back"})
FAILED = frozenset({"failed", "rolled_back"})
UNKNOWN_ACTOR = "(unknown)"
HOUR, DAY = 3600.0, 86400.0
MONTH = 30 * DAY

DEFINITIONS: tuple[str, ...] = ("dora", "fourkeys")
GROUPINGS: tuple[str, ...] = ("author", "pusher")
SOURCES = {
    "dora": "DORA, Accelerate State of DevOps Report 2024 (dora.dev)",
    "fourkeys": "Four Keys queries (github.com/dora-team/fourkeys, queries/*.sql and the dashboard)",
    "dataops": "this product (data-quality incidents of kind data_quality)",
}
TIERS = ("elite", "high", "medium", "low")


# ----------------------------------------------------------------- tiers
@dataclass(frozen=True)
class TierTable:
    """One report's software delivery performance levels, per key, in the order elite, high, medium, low.

    Lead time and recovery time are the upper ends of the published ranges ("less than one day",
    "between one day and one week", ...); change failure rates are the clusters' published values.
    A value gets the tier with the smallest limit it does not exceed (ties: the better tier), and
    ``low`` beyond every limit, so gaps and overlaps of the published table resolve the same way.
    """

    year: int
    lead_time: tuple[float, float, float, float]
    failure_rate: tuple[float, float, float, float]
    recovery: tuple[float, float, float, float]

    @property
    def name(self) -> str:
        return f"DORA {self.year}"


BENCHMARKS: dict[int, TierTable] = {
    # Accelerate State of DevOps 2023, software delivery performance levels: elite / high / medium /
    # low; lead time <1 day / 1 day-1 week / 1 week-1 month / 1 week-1 month; change failure rate
    # 5% / 10% / 15% / 64%; failed deployment recovery time <1 hour / <1 day / 1 day-1 week /
    # 1 month-6 months.
    2023: TierTable(2023, (DAY, 7 * DAY, MONTH, MONTH), (0.05, 0.10, 0.15, 0.64),
                    (HOUR, DAY, 7 * DAY, 6 * MONTH)),
    # Accelerate State of DevOps 2024: lead time <1 day / 1 day-1 week / 1 week-1 month /
    # 1 month-6 months; change failure rate 5% / 20% / 10% / 40%; failed deployment recovery time
    # <1 hour / <1 day / <1 day / 1 week-1 month.
    2024: TierTable(2024, (DAY, 7 * DAY, MONTH, 6 * MONTH), (0.05, 0.20, 0.10, 0.40),
                    (HOUR, DAY, DAY, MONTH)),
}
DEFAULT_BENCHMARK = 2024
BENCHMARK = BENCHMARKS[DEFAULT_BENCHMARK].name  # the default tier table's name


def _tier(value: float | None, limits: Sequence[float], *, inclusive: bool) -> str | None:
    if value is None:
        return None
    for _limit, rank in sorted((limit, rank) for rank, limit in enumerate(limits)):
        if value < _limit or (inclusive and value == _limit):
            return TIERS[rank]
    return "low"


def lead_time_tier(seconds: float | None, benchmark: int = DEFAULT_BENCHMARK) -> str | None:
    return _tier(seconds, BENCHMARKS[benchmark].lead_time, inclusive=False)


def failure_rate_tier(rate: float | None, benchmark: int = DEFAULT_BENCHMARK) -> str | None:
    return _tier(rate, BENCHMARKS[benchmark].failure_rate, inclusive=True)


def restore_tier(seconds: float | None, benchmark: int = DEFAULT_BENCHMARK) -> str | None:
    return _tier(seconds, BENCHMARKS[benchmark].recovery, inclusive=False)


def frequency_tier(days_per_week: float, days_per_month: float, weeks_deployed: float = 0.0,
                   definitions: str = "dora") -> str:
    """Deployment frequency from deployment days (both reports' table is the same for this key).

    ``dora``: on demand = the median week has a deployment on all 7 days; daily to weekly = on at
    least one day; weekly to monthly = the median 30-day month has a deployment day; else low (the
    reading Apache DevLake applies to the 2023 report). ``fourkeys``: daily = median deployment
    days per week >= 3, weekly = the median week had a deployment (``weeks_deployed``, the median
    of 0/1 per week), monthly = the median month had one, else yearly (low).
    """
    if definitions == "fourkeys":
        if days_per_week >= 3:
            return "elite"
        if weeks_deployed >= 1:
            return "high"
    else:
        if days_per_week >= 7:
            return "elite"
        if days_per_week >= 1:
            return "high"
    return "medium" if days_per_month >= 1 else "low"


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

    @property
    def last_date(self) -> date:
        """The last UTC day the window covers (an end at midnight covers none of that day)."""
        return (self.end - timedelta(microseconds=1)).date()

    @property
    def dates(self) -> int:
        return (self.last_date - self.start.date()).days + 1

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": round(self.days, 6)}


def created_at(rec: DeploymentRecord) -> datetime:
    """When a deployment was created: its queued time, else the time its id carries."""
    return rec.queued_at or DeploymentKey(rec.id).created


def carried_commits(rec: DeploymentRecord) -> list[CommitInfo]:
    """The commits a deployment carried; the head commit is always among them.

    Records carry the range a deployment brings to its environment (``commits``), older ones only
    the head commit and the pushed commits: either way every commit id is one lead-time candidate.
    A first deployment there (``commit_range.first``) carries the head's history for approval, but
    only its head commit counts: the product cannot know whether, or when, that history reached the
    environment before it (by hand, by another tool), and a long-lived repository's history would
    give lead times of years on its first day.
    """
    if (rec.commit_range or {}).get("first"):
        return [c for c in rec.commits if c.id == rec.commit][:1] or [CommitInfo(rec.commit, rec.commit_time)]
    commits = list(rec.commits)
    if rec.commit and rec.commit not in [c.id for c in commits]:
        commits.append(CommitInfo(rec.commit, rec.commit_time))
    return commits


# ------------------------------------------------------------ developers
Resolve = Callable[[str], "str | None"]


def commit_author(c: CommitInfo, resolve: Resolve | None = None) -> str:
    """Who wrote a commit: their ``people:`` (Entra) identity when mapped, else the commit e-mail,
    else the author login or name."""
    login = c.author if c.author and " " not in c.author.strip() else None
    if resolve is not None:
        for ident in (login, c.author_email):
            mapped = resolve(ident) if ident else None
            if mapped:
                return mapped
    return c.author_email or c.author or UNKNOWN_ACTOR


# ----------------------------------------------------------------- facts
@dataclass(frozen=True)
class DeploymentFact:
    id: str
    actor: str  # the first of ``actors`` (kept for callers that read one)
    succeeded: bool
    failed: bool
    caused_incident: bool
    rollback: bool
    fix: bool
    actors: tuple[str, ...] = ()
    deployed: bool = False  # reached the environment (succeeded, or rolled_back later)
    day: date | None = None  # UTC day it ended
    hotfix: bool = False  # the first deployment after an incident opened (before it was resolved)


@dataclass
class Facts:
    """Per-event facts, each tagged with the developers it belongs to, so any slice sums the same way."""

    deployments: list[DeploymentFact] = field(default_factory=list)
    lead_times: list[tuple[str, float, datetime]] = field(default_factory=list)  # (developer, seconds, deployed)
    restores: list[tuple[str, float]] = field(default_factory=list)
    open_failures: list[str] = field(default_factory=list)
    quality: list[tuple[str, bool]] = field(default_factory=list)  # (developer, still open)


def _pusher(rec: DeploymentRecord | None) -> str:
    return (rec.actor if rec and rec.actor else None) or UNKNOWN_ACTOR


class _Seen:
    """Commit ids already deployed: a fork's own on top of the walk it forked from (which it never changes)."""

    __slots__ = ("base", "own")

    def __init__(self, base: set[str] | _Seen) -> None:
        self.base, self.own = base, set[str]()

    def __contains__(self, commit: object) -> bool:
        return commit in self.own or commit in self.base

    def update(self, commits: Iterable[str]) -> None:
        self.own.update(commits)


@dataclass
class _Walk:
    """The state of one pass over an environment's history in order of deployment end.

    ``window`` None: a pass that only builds up what later windows depend on (commits deployed,
    each component's last outcome, open failure episodes), for :meth:`fork`.
    """

    definitions: str
    group_by: str
    resolve: Resolve | None
    window: Window | None
    causes: frozenset[str] = frozenset()  # deployments an incident names as its cause
    hotfixes: frozenset[str] = frozenset()
    facts: Facts = field(default_factory=Facts)
    seen_commits: set[str] | _Seen = field(default_factory=set)
    who: MutableMapping[str, tuple[str, ...]] = field(default_factory=dict)  # deployment id -> developers
    authors: dict[tuple[str | None, str | None], str] = field(default_factory=dict)  # (login, e-mail) -> who
    previous_failed: dict[str, bool] = field(default_factory=dict)  # component -> did its last counted one fail
    failing_since: dict[str, DeploymentRecord] = field(default_factory=dict)  # component -> open episode's first

    def fork(self, window: Window, hotfixes: frozenset[str]) -> _Walk:
        """A walk that goes on from this one's state over ``window`` (this one is left as it is)."""
        return _Walk(self.definitions, self.group_by, self.resolve, window, self.causes, hotfixes,
                     seen_commits=_Seen(self.seen_commits), who=ChainMap({}, self.who), authors=self.authors,
                     previous_failed=dict(self.previous_failed), failing_since=dict(self.failing_since))

    def author(self, c: CommitInfo) -> str | None:
        if not (c.author or c.author_email):
            return None
        key = (c.author, c.author_email)
        got = self.authors.get(key)
        if got is None:
            got = self.authors[key] = commit_author(c, self.resolve)
        return got

    def developers(self, d: DeploymentRecord, new: list[CommitInfo]) -> tuple[str, ...]:
        if self.group_by == "pusher":
            return (_pusher(d),)
        authors = [a for a in map(self.author, new) if a]
        if not authors:  # nothing new (a rollback, a redeploy): the head commit's author
            authors = [a for a in (self.author(c) for c in d.commits if c.id == d.commit) if a]
        return tuple(dict.fromkeys(authors)) or (UNKNOWN_ACTOR,)

    def lead_times(self, d: DeploymentRecord, inside: bool) -> list[CommitInfo]:
        """Count the commits ``d`` brought to the environment for the first time; returns them."""
        ended: datetime = d.ended_at  # type: ignore[assignment]
        new = [c for c in carried_commits(d) if c.id not in self.seen_commits]
        if d.status != "succeeded":
            return new
        self.seen_commits.update(c.id for c in new)
        if not inside:
            return new
        for c in new:
            if c.timestamp is None:
                continue
            seconds = (ended - c.timestamp).total_seconds()
            if self.definitions == "fourkeys" and seconds < 60:
                continue  # Four Keys leaves out changes deployed within a minute ("automated pushes")
            who = (self.author(c) or UNKNOWN_ACTOR) if self.group_by == "author" else _pusher(d)
            # A commit stamped after its deployment ended (clock skew) counts as zero, not negative.
            self.facts.lead_times.append((who, max(0.0, seconds), ended))
        return new

    def _inside(self, d: DeploymentRecord) -> bool:
        return self.window is not None and created_at(d) in self.window

    def step(self, d: DeploymentRecord) -> None:
        """Take the next counted deployment (in order of end)."""
        facts = self.facts
        inside = self._inside(d)
        failed = d.status in FAILED
        ended: datetime = d.ended_at  # type: ignore[assignment]
        new = self.lead_times(d, inside)
        who = self.developers(d, new)
        self.who[d.id] = who
        if inside:
            rollback = d.trigger == "rollback"
            facts.deployments.append(DeploymentFact(
                id=d.id, actor=who[0], actors=who, succeeded=d.status == "succeeded", failed=failed,
                caused_incident=d.id in self.causes, rollback=rollback,
                fix=not rollback and self.previous_failed.get(d.component, False),
                deployed=d.status in ("succeeded", "rolled_back"), day=ended.date(), hotfix=d.id in self.hotfixes))
        self.previous_failed[d.component] = failed
        opener = self.failing_since.get(d.component)
        if failed and opener is None:
            self.failing_since[d.component] = d
        elif d.status == "succeeded" and opener is not None:
            del self.failing_since[d.component]
            if self.definitions == "dora" and self._inside(opener):
                facts.restores.append((self.who[opener.id][0], (ended - opener.ended_at).total_seconds()))  # type: ignore[operator]

    def finish(self, incidents: list[Incident], by_id: Mapping[str, DeploymentRecord]) -> Facts:
        """The facts, once every deployment was taken: open failure episodes and the incidents."""
        if self.definitions == "dora":
            self.facts.open_failures.extend(self.who[o.id][0] for o in self.failing_since.values()
                                            if self._inside(o))
        _incident_facts(self, incidents, by_id)
        return self.facts


def _counted(deployments: Iterable[DeploymentRecord]) -> list[DeploymentRecord]:
    """The deployments the keys walk, in order of end."""
    done = [d for d in deployments if d.status in COUNTED and d.ended_at is not None]
    done.sort(key=lambda d: (d.ended_at, d.id))  # type: ignore[arg-type,return-value]
    return done


def _causes(incidents: list[Incident]) -> frozenset[str]:
    return frozenset(i.deployment_id for i in incidents if i.deployment_id)


def collect_facts(deployments: Iterable[DeploymentRecord], incidents: Iterable[Incident], window: Window,
                  *, definitions: str = "dora", group_by: str = "pusher", resolve: Resolve | None = None) -> Facts:
    """Turn history into facts. ``deployments`` may reach back before the window (commits already
    deployed there are not counted again); only deployments created inside the window are counted."""
    done = _counted(deployments)
    incidents = list(incidents)
    walk = _Walk(definitions, group_by, resolve, window, _causes(incidents),
                 frozenset(_hotfixes(done, incidents, window)))
    for d in done:
        walk.step(d)
    return walk.finish(incidents, {d.id: d for d in done})


def collect_series(deployments: Iterable[DeploymentRecord], incidents: Iterable[Incident],
                   windows: Sequence[Window], *, definitions: str = "dora", group_by: str = "pusher",
                   resolve: Resolve | None = None) -> list[Facts]:
    """The facts of each of ``windows`` (in time order, each starting where the one before ended or
    later), exactly as ``collect_facts`` over the deployments created up to that window's end gives
    them, in one pass instead of one per window.

    Deployments are walked in order of end. Everything a window's facts depend on that ended before
    the first deployment created in it is the same for that window and every later one: one walk
    builds it up, and each window forks it and walks only its own deployments and those created
    earlier that were still running.
    """
    done = _counted(deployments)
    incidents = list(incidents)
    by_id = {d.id: d for d in done}
    named = [by_id[i.deployment_id] for i in incidents if i.deployment_id in by_id]  # causes, as _incident_facts finds them
    by_created = sorted((created_at(d), d.id, i) for i, d in enumerate(done))  # as _hotfixes orders them
    starts = [c for c, _, _ in by_created]
    first_after = [len(done)] * (len(by_created) + 1)  # first_after[j]: least walk index of by_created[j:]
    for j in range(len(by_created) - 1, -1, -1):
        first_after[j] = min(first_after[j + 1], by_created[j][2])
    # _hotfixes: the first deployment created at or after each incident opened (not its cause).
    firsts = [(inc, bisect.bisect_left(starts, inc.opened_at)) for inc in incidents]
    base = _Walk(definitions, group_by, resolve, None, _causes(incidents))
    walked = 0  # base has taken done[:walked]
    created = 0  # by_created[:created]: created before the current window
    running: list[int] = []  # walk indexes >= walked of deployments created before the current window
    out: list[Facts] = []
    for n, w in enumerate(windows):
        if n and w.start < windows[n - 1].start:
            raise ValueError("windows must be in time order")
        j = bisect.bisect_left(starts, w.start)
        until = first_after[j]  # everything before it was created before w.start
        while walked < until:
            base.step(done[walked])
            walked += 1
        while created < j:
            running.append(by_created[created][2])
            created += 1
        running = [i for i in running if i >= walked]
        upto = bisect.bisect_right(starts, w.end)  # by_created[:upto]: created up to w.end
        hotfixes = frozenset(by_created[i][1] for inc, i in firsts
                             if i < upto and by_created[i][0] <= (inc.resolved_at or w.end)
                             and by_created[i][1] != inc.deployment_id)
        walk = base.fork(w, hotfixes)
        for i in sorted([*running, *(by_created[k][2] for k in range(j, upto))]):
            walk.step(done[i])
        out.append(walk.finish(incidents, {d.id: d for d in named if created_at(d) <= w.end}))
    return out


def _hotfixes(done: list[DeploymentRecord], incidents: list[Incident], window: Window) -> set[str]:
    """The first deployment created after each incident opened and before it was resolved."""
    ordered = sorted((created_at(d), d.id) for d in done)
    starts = [c for c, _ in ordered]
    out: set[str] = set()
    for inc in incidents:
        i = bisect.bisect_left(starts, inc.opened_at)
        until = inc.resolved_at or window.end
        if i < len(ordered) and ordered[i][0] <= until and ordered[i][1] != inc.deployment_id:
            out.add(ordered[i][1])
    return out


def _incident_facts(walk: _Walk, incidents: list[Incident], by_id: Mapping[str, DeploymentRecord]) -> None:
    facts, window = walk.facts, walk.window
    for inc in incidents:
        if window is None or inc.opened_at not in window:
            continue
        cause = by_id.get(inc.deployment_id or "")
        who = walk.who.get(cause.id, (UNKNOWN_ACTOR,))[0] if cause else UNKNOWN_ACTOR
        if inc.kind == "data_quality":
            facts.quality.append((who, not inc.resolved))
            continue
        if walk.definitions == "dora" and not inc.deployment_id:
            continue  # failed-deployment recovery: only failures a deployment caused
        start = inc.opened_at
        if walk.definitions == "fourkeys" and cause is not None and cause.ended_at is not None:
            start = min(start, cause.ended_at)  # Four Keys: the earlier of the deployment and the incident
        if inc.resolved_at is not None:
            facts.restores.append((who, max(0.0, (inc.resolved_at - start).total_seconds())))
        else:
            facts.open_failures.append(who)


def split(facts: Facts) -> dict[str, Facts]:
    """The facts of each developer (a deployment with several authors counts for each of them)."""
    out: dict[str, Facts] = {}

    def of(who: str) -> Facts:
        got = out.get(who)
        if got is None:
            got = out[who] = Facts()
        return got

    for f in facts.deployments:
        for who in f.actors or (f.actor,):
            of(who).deployments.append(f)
    for lt in facts.lead_times:
        of(lt[0]).lead_times.append(lt)
    for r in facts.restores:
        of(r[0]).restores.append(r)
    for o in facts.open_failures:
        of(o).open_failures.append(o)
    for q in facts.quality:
        of(q[0]).quality.append(q)
    return out


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


def deployment_days(days: set[date], window: Window) -> dict[str, Any]:
    """Deployment days per week and per 30-day month, counted back from the window's last day.

    Only whole weeks and months count (the remainder at the window's start is left out); a
    window shorter than a week (a month) is taken as one week (one month).
    """
    last, dates = window.last_date, max(window.dates, 1)
    weeks, months = max(dates // 7, 1), max(dates // 30, 1)
    per_week, per_month = [0] * weeks, [0] * months
    for d in days:
        back = (last - d).days
        if 0 <= back < weeks * 7:
            per_week[back // 7] += 1
        if 0 <= back < months * 30:
            per_month[back // 30] += 1
    return {"deployment_days": len(days), "weeks": weeks, "months": months,
            "median_days_per_week": float(statistics.median(per_week)),
            "median_days_per_month": float(statistics.median(per_month)),
            "median_week_deployed": float(statistics.median([1 if n else 0 for n in per_week]))}


@dataclass(frozen=True)
class Settings:
    """Which definitions and which tier table a report uses."""

    definitions: str = "dora"
    benchmark: int = DEFAULT_BENCHMARK

    @property
    def table(self) -> TierTable:
        return BENCHMARKS[self.benchmark]

    def label(self, definition: str | None = None, tiers: bool = True) -> dict[str, Any]:
        return {"definition": definition or self.definitions, "benchmark": self.table.name if tiers else None}


def _frequency(deps: list[DeploymentFact], window: Window, s: Settings) -> dict[str, Any]:
    counted = [f for f in deps if (f.deployed if s.definitions == "fourkeys" else f.succeeded)]
    per_day = len(counted) / (window.days or 1.0)
    days = deployment_days({f.day for f in counted if f.day is not None}, window)
    tier = frequency_tier(days["median_days_per_week"], days["median_days_per_month"],
                          days.pop("median_week_deployed"), s.definitions)
    return {"successful": len(counted), "per_day": per_day, "per_week": per_day * 7, **days,
            "tier": tier, **s.label()}


def _failure_rate(deps: list[DeploymentFact], s: Settings) -> dict[str, Any]:
    failed = sum(f.failed for f in deps)
    if s.definitions == "fourkeys":
        deployed = [f for f in deps if f.deployed]
        linked = sum(f.caused_incident for f in deployed)
        num, den, caused = linked, len(deployed), linked
    else:
        caused = sum(f.caused_incident and not f.failed for f in deps)
        num, den = failed + caused, len(deps)
    rate = _ratio(num, den)
    return {"value": rate, "failed": failed, "caused_incident": caused, "deployments": den,
            "numerator": num, "tier": failure_rate_tier(rate, s.benchmark), **s.label()}


def summarise(facts: Facts, window: Window, keep: Callable[[str], bool] = lambda _a: True,
              settings: Settings | None = None) -> dict[str, Any]:
    """The keys over the facts whose developer passes ``keep``."""
    s = settings or Settings()
    deps = [f for f in facts.deployments if any(keep(a) for a in (f.actors or (f.actor,)))]
    total = len(deps)
    leads = [sec for a, sec, _ in facts.lead_times if keep(a)]
    restores = [sec for a, sec in facts.restores if keep(a)]
    rollbacks = sum(f.rollback for f in deps)
    fixes = sum(f.fix and not f.rollback for f in deps)
    hotfixes = sum(f.hotfix and not (f.rollback or f.fix) for f in deps)
    quality = [o for a, o in facts.quality if keep(a)]
    lead_median, restore_median = median(leads), median(restores)
    return {
        "deployments": total,
        "deployment_frequency": _frequency(deps, window, s),
        "lead_time": {
            "commits": len(leads), "median_seconds": lead_median, "p90_seconds": p90(leads),
            "tier": lead_time_tier(lead_median, s.benchmark), **s.label(),
        },
        "change_failure_rate": _failure_rate(deps, s),
        "time_to_restore": {
            "median_seconds": restore_median, "restores": len(restores),
            "open": sum(1 for a in facts.open_failures if keep(a)),
            "tier": restore_tier(restore_median, s.benchmark), **s.label(),
        },
        "rework_rate": {
            "value": _ratio(rollbacks + fixes + hotfixes, total), "rollbacks": rollbacks, "fixes": fixes,
            "hotfixes": hotfixes, "deployments": total,
            "tier": None, **s.label("dora", tiers=False),  # the 2024 report publishes no rework tiers
        },
        "data_quality": {
            "issues": len(quality), "open": sum(quality), "per_week": len(quality) / (window.days or 1.0) * 7,
            **s.label("dataops", tiers=False),
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
    settings: Settings = field(default_factory=Settings)
    group_by: str = "author"

    @property
    def benchmark(self) -> str:
        return self.settings.table.name

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "environment": self.environment, "benchmark": s.table.name, "definitions": s.definitions,
            "sources": {name: SOURCES[name] for name in (s.definitions, "dora", "dataops")},
            "window": self.window.to_json(), **self.keys}
        if self.by_developer is not None:
            body["group_by"] = self.group_by
            body["by_developer"] = self.by_developer
        return body


def compute_dora(environment: str, deployments: Iterable[DeploymentRecord], incidents: Iterable[Incident],
                 window: Window, *, by_developer: bool = False, definitions: str = "dora",
                 benchmark: int = DEFAULT_BENCHMARK, group_by: str = "author",
                 resolve: Resolve | None = None) -> DoraReport:
    """The DORA report of one environment over ``window`` (see docs/metrics.md for the definitions).

    ``group_by`` (``author``: commit authors mapped through ``resolve``; ``pusher``: the deployment's
    actor) decides whom per-developer facts belong to.
    """
    settings = Settings(definitions, benchmark)
    deployments = list(deployments)
    facts = collect_facts(deployments, incidents, window, definitions=definitions, group_by=group_by,
                          resolve=resolve)
    per_dev: dict[str, dict[str, Any]] | None = None
    if by_developer:
        per_dev = {who: summarise(part, window, settings=settings) for who, part in sorted(split(facts).items())}
    inside = sorted((d for d in deployments if created_at(d) in window), key=created_at, reverse=True)
    return DoraReport(environment, window, summarise(facts, window, settings=settings), per_dev, facts, inside,
                      settings, group_by)

