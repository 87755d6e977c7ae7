"""The dashboard's DORA section: the keys with their tiers, the trend against the previous period of
the same length, a sparkline per key, and the charts over the window (inline SVG, no script).

Buckets are UTC calendar days (weeks from Monday beyond 60 days, 28-day periods beyond 400 days)
and are labelled by the UTC date they cover. (They used to start at ``now - days``: with ``now``
at 12:05, "Feb 1" covered Feb 1 12:05 to Feb 2 12:05, so every morning deployment was shown a day
early.) The numbers come only from the public functions of :mod:`.report` and :mod:`.dora`, so
they are those of ``GET /api/metrics/dora`` for the same window.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ..dashboard.html import Links, duration, esc, utc
from .dora import (
    DEFAULT_BENCHMARK,
    DoraReport,
    Settings,
    Window,
    collect_series,
    compute_dora,
    created_at,
    summarise,
)
from .report import CachedReader, dora_report, gc_paused, history_for, report_inputs, rollup_reader

if TYPE_CHECKING:
    from ..audit import AuditLedger, DeploymentRecord
    from .incidents import Incident

STATUS_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "rolled_back": "#ef6c00",
                  "superseded": "#9e9e9e", "rejected": "#6a1b9a", "other": "#1565c0"}
WIDTH, HEIGHT, PAD = 1000, 220, 34
SPARK_W, SPARK_H = 200, 40
LATEST = 15
DAY = timedelta(days=1)


# ---------------------------------------------------------------- buckets
@dataclass(frozen=True)
class Buckets:
    """Consecutive UTC calendar buckets covering a window; ``starts[i]`` is the UTC midnight bucket i begins."""

    starts: list[datetime]
    size: timedelta

    @property
    def unit(self) -> str:
        return {1: "day", 7: "week"}.get(self.size.days, f"{self.size.days} days")

    def index(self, when: datetime) -> int | None:
        """The bucket holding ``when`` (by its UTC time), or None outside the buckets."""
        i = (when.astimezone(UTC) - self.starts[0]) // self.size
        return i if 0 <= i < len(self.starts) else None

    def label(self, i: int) -> str:
        start = self.starts[i]
        if self.size == DAY:
            return f"{start:%Y-%m-%d}"
        return f"{start:%Y-%m-%d} to {start + self.size - DAY:%Y-%m-%d}"

    def windows(self, window: Window) -> list[Window]:
        """Each bucket clipped to ``window`` (the first and last are usually partial)."""
        return [Window(max(s, window.start), min(s + self.size, window.end)) for s in self.starts]


def buckets(window: Window) -> Buckets:
    """UTC days up to 60 days, weeks (Monday to Sunday) up to 400, else 28-day periods; the bucket of
    the window's end is included (the window is closed: ``end`` itself belongs to it)."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    first = datetime.combine(start.date(), time.min, UTC)
    if window.days <= 60:
        size = DAY
    elif window.days <= 400:
        size, first = timedelta(days=7), first - timedelta(days=start.weekday())
    else:
        size = timedelta(days=28)
    starts = [first]
    while starts[-1] + size <= end:
        starts.append(starts[-1] + size)
    return Buckets(starts, size)


# ------------------------------------------------------------------- keys
def _get(keys: dict[str, Any], *path: str) -> Any:
    value: Any = keys
    for p in path:
        value = value.get(p) if isinstance(value, dict) else None
    return value


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


@dataclass(frozen=True)
class KeyView:
    """One key as the dashboard shows it: its headline number (trend, sparkline) and its text."""

    slug: str
    title: str
    section: str  # the key's object in the report
    headline: str  # the field the trend and the sparkline follow
    better: str  # higher | lower
    text: Callable[[dict[str, Any]], str]
    fmt: Callable[[float], str]

    def value(self, keys: dict[str, Any]) -> float | None:
        v = _get(keys, self.section, self.headline)
        return float(v) if isinstance(v, int | float) else None

    def tier(self, keys: dict[str, Any]) -> str | None:
        t = _get(keys, self.section, "tier")
        return str(t) if t else None


def _df_text(k: dict[str, Any]) -> str:
    df = k.get("deployment_frequency") or {}
    days = (f", {df['deployment_days']} deployment days, median {df.get('median_days_per_week', 0):g} per week"
            if "deployment_days" in df else "")
    return f"{df.get('per_week', 0):.2f} / week ({df.get('successful', 0)} successful{days})"


def _lt_text(k: dict[str, Any]) -> str:
    lt = k.get("lead_time") or {}
    return (f"median {duration(lt.get('median_seconds'))}, p90 {duration(lt.get('p90_seconds'))} "
            f"({lt.get('commits', 0)} commits)")


def _cfr_text(k: dict[str, Any]) -> str:
    c = k.get("change_failure_rate") or {}
    return (f"{_pct(c.get('value'))} ({c.get('failed', 0)} failed, {c.get('caused_incident', 0)} caused "
            f"incidents, of {c.get('deployments', 0)})")


def _ttr_text(k: dict[str, Any]) -> str:
    t = k.get("time_to_restore") or {}
    return f"median {duration(t.get('median_seconds'))} ({t.get('restores', 0)} restored, {t.get('open', 0)} open)"


def _rw_text(k: dict[str, Any]) -> str:
    r = k.get("rework_rate") or {}
    return f"{_pct(r.get('value'))} ({r.get('rollbacks', 0)} rollbacks, {r.get('fixes', 0)} fixes)"


def _dq_text(k: dict[str, Any]) -> str:
    q = k.get("data_quality") or {}
    return f"{q.get('issues', 0)} ({q.get('per_week', 0):.2f} / week, {q.get('open', 0)} open)"


KEYS: tuple[KeyView, ...] = (
    KeyView("deployment_frequency", "Deployment frequency", "deployment_frequency", "per_week", "higher",
            _df_text, lambda v: f"{v:.2f}/wk"),
    KeyView("lead_time", "Lead time for changes", "lead_time", "median_seconds", "lower", _lt_text, duration),
    KeyView("change_failure_rate", "Change failure rate", "change_failure_rate", "value", "lower", _cfr_text,
            lambda v: f"{v * 100:.1f}%"),
    KeyView("time_to_restore", "Time to restore", "time_to_restore", "median_seconds", "lower", _ttr_text,
            duration),
    KeyView("rework_rate", "Rework rate", "rework_rate", "value", "lower", _rw_text, lambda v: f"{v * 100:.1f}%"),
    KeyView("data_quality", "Data-quality issues", "data_quality", "per_week", "lower", _dq_text,
            lambda v: f"{v:.2f}/wk"),
)


def trend(key: KeyView, now: dict[str, Any], before: dict[str, Any], days: int) -> tuple[str, str]:
    """(css class, text) of a key against the previous period: better, worse, same or n/a."""
    a, b = key.value(now), key.value(before)
    period = f"previous {days} days"
    if b is None:
        return "none", f"no comparison: no value in the {period}"
    if a is None:
        return "none", f"no value now; {key.fmt(b)} in the {period}"
    if abs(a - b) < 1e-9:
        return "same", f"= same as the {period} ({key.fmt(b)})"
    up = a > b
    good = up == (key.better == "higher")
    change = f"{(a - b) / abs(b) * 100:+.0f}%" if b else "from 0"
    return ("better" if good else "worse",
            f"{'▲' if up else '▼'} {change} vs the {period} ({key.fmt(b)}): {'better' if good else 'worse'}")


# ------------------------------------------------------------------ view
@dataclass
class DoraView:
    """What the DORA section of one environment shows."""

    report: DoraReport
    previous: DoraReport
    days: int
    buckets: Buckets
    series: dict[str, list[float | None]] = field(default_factory=dict)


def key_series(environment: str, deployments: Sequence[DeploymentRecord], incidents: Sequence[Incident],
               window: Window, grid: Buckets, *, definitions: str = "dora",
               benchmark: int = DEFAULT_BENCHMARK) -> dict[str, list[float | None]]:
    """Each key's headline per bucket: what :func:`~.dora.compute_dora` gives for that bucket's window
    over the deployments created up to its end (:func:`key_series_per_bucket`), from one pass over
    the history the window's report was computed from (:func:`~.dora.collect_series`)."""
    settings = Settings(definitions, benchmark)
    windows = grid.windows(window)
    out: dict[str, list[float | None]] = {k.slug: [] for k in KEYS}
    for w, facts in zip(windows, collect_series(deployments, incidents, windows, definitions=definitions,
                                                group_by="author"), strict=True):
        keys = summarise(facts, w, settings=settings)
        for k in KEYS:
            out[k.slug].append(k.value(keys))
    return out


def key_series_per_bucket(environment: str, deployments: Sequence[DeploymentRecord], incidents: Sequence[Incident],
                          window: Window, grid: Buckets, **how: Any) -> dict[str, list[float | None]]:
    """:func:`key_series` the slow way, one :func:`~.dora.compute_dora` per bucket over everything
    created up to the bucket's end (the reference the tests and ``bench/bench_dashboard.py`` hold
    it to)."""
    history = sorted(deployments, key=created_at)
    out: dict[str, list[float | None]] = {k.slug: [] for k in KEYS}
    upto = 0
    for w in grid.windows(window):
        while upto < len(history) and created_at(history[upto]) <= w.end:
            upto += 1
        keys = compute_dora(environment, history[:upto], incidents, w, **how).keys
        for k in KEYS:
            out[k.slug].append(k.value(keys))
    return out


def dora_view(ledger: AuditLedger, environment: str, now: datetime, days: int, *,
              definitions: str = "dora", benchmark: int = DEFAULT_BENCHMARK,
              include_branch_syncs: bool = False) -> DoraView:
    """The section's numbers, by the given definitions and tier table (the configuration's ``metrics:``).

    One read of the partition (the rollup, the newest hours raw) serves the report, the previous
    period's report and the sparklines: they are the keys ``GET /api/metrics/dora`` answers for
    these windows.
    """
    how: dict[str, Any] = {"definitions": definitions, "benchmark": benchmark}
    window, previous_window = Window.last_days(now, days), Window.last_days(now - timedelta(days=days), days)
    read = CachedReader(rollup_reader(ledger, environment, now))
    with gc_paused():
        history_for(ledger, environment, Window(previous_window.start, now), read)  # both windows, one read
        deployments, incidents = report_inputs(ledger, environment, window, read,
                                               include_branch_syncs=include_branch_syncs)
        report = compute_dora(environment, deployments, incidents, window, **how)
        previous = dora_report(ledger, environment, now - timedelta(days=days), days, read=read,
                               include_branch_syncs=include_branch_syncs, **how)
        grid = buckets(report.window)
        return DoraView(report, previous, days, grid,
                        key_series(environment, deployments, incidents, report.window, grid, **how))


# ----------------------------------------------------------------- charts
def sparkline(key: KeyView, values: Sequence[float | None], grid: Buckets) -> str:
    """A small inline SVG line of the key's headline per bucket (gaps where there is no value)."""
    known = [v for v in values if v is not None]
    parts = [f'<svg class="spark" data-key="{key.slug}" role="img" viewBox="0 0 {SPARK_W} {SPARK_H}" '
             f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
             f"<title>{esc(key.title)} per {grid.unit}</title>"]
    if not known:
        parts.append(f'<line x1="0" y1="{SPARK_H - 2}" x2="{SPARK_W}" y2="{SPARK_H - 2}" stroke="#d0d7de" '
                     'stroke-dasharray="4 3" vector-effect="non-scaling-stroke"/></svg>')
        return "".join(parts)
    lo, hi = min([*known, 0.0]), max(known)
    span = (hi - lo) or 1.0
    step = SPARK_W / max(len(values) - 1, 1)
    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            runs.append([])
            continue
        runs[-1].append((i * step, SPARK_H - 3 - (v - lo) / span * (SPARK_H - 6)))
    for run in (r for r in runs if r):
        if len(run) == 1:
            x, y = run[0]
            run = [(x - 1.5, y), (x + 1.5, y)]
        parts.append('<polyline fill="none" stroke="#0969da" stroke-width="2" vector-effect="non-scaling-stroke" '
                     'points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in run) + '"/>')
    for i, v in enumerate(values):
        if v is not None:
            parts.append(f'<rect class="point" x="{i * step - step / 2:.1f}" y="0" width="{step:.1f}" '
                         f'height="{SPARK_H}" fill="transparent"><title>{esc(grid.label(i))}: '
                         f"{esc(key.fmt(v))}</title></rect>")
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(cls: str, title: str) -> list[str]:
    return [f'<svg class="chart {cls}" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>',
            f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>']


def _axis(grid: Buckets) -> list[str]:
    """Date labels under the first, last and a few middle buckets (UTC dates)."""
    n = len(grid.starts)
    slot = (WIDTH - 2 * PAD) / n
    shown = sorted({0, n - 1, *range(0, n, max(1, n // 5))})
    if n > 1 and n - 1 - shown[-2] < max(1, n // 10):
        shown.remove(shown[-2])  # keep the last label clear of its neighbour
    out = []
    for i in shown:
        anchor = "start" if i == 0 else ("end" if i == n - 1 and n > 1 else "middle")
        x = PAD if anchor == "start" else (WIDTH - PAD if anchor == "end" else PAD + (i + 0.5) * slot)
        out.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 10}" font-size="14" text-anchor="{anchor}">'
                   f"{grid.starts[i]:%Y-%m-%d}</text>")
    return out


def deployments_chart(report: DoraReport, grid: Buckets | None = None) -> str:
    """Stacked bars: how many deployments were created per UTC bucket, by final status."""
    grid = grid or buckets(report.window)
    counts: list[dict[str, int]] = [{} for _ in grid.starts]
    for d in report.deployments:
        i = grid.index(created_at(d))
        if i is None:
            continue
        status = d.status if d.status in STATUS_COLOURS else "other"
        counts[i][status] = counts[i].get(status, 0) + 1
    peak = max([sum(c.values()) for c in counts] + [1])
    bar = (WIDTH - 2 * PAD) / len(grid.starts)
    parts = _svg_open("deployments-chart", f"Deployments per {grid.unit} by status (UTC)")
    parts.append(f'<text x="2" y="{PAD - 12}" font-size="14">{peak}</text>')
    scale = (HEIGHT - 2 * PAD) / peak
    for i, c in enumerate(counts):
        y: float = HEIGHT - PAD
        for status, colour in STATUS_COLOURS.items():
            n = c.get(status, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(f'<rect class="bar" data-status="{status}" data-bucket="{grid.starts[i]:%Y-%m-%d}" '
                         f'x="{PAD + i * bar:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                         f'fill="{colour}"><title>{esc(grid.label(i))}: {n} {status}</title></rect>')
    parts += _axis(grid)
    parts.append("</svg>")
    legend = " ".join(f'<span class="swatch" style="background:{c}"></span>{esc(s)}'
                      for s, c in STATUS_COLOURS.items())
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def lead_time_chart(report: DoraReport, grid: Buckets | None = None) -> str:
    """Line: the median lead time of the commits deployed in each UTC bucket (hours)."""
    grid = grid or buckets(report.window)
    samples: list[list[float]] = [[] for _ in grid.starts]
    for _, seconds, deployed in (report.facts.lead_times if report.facts else []):
        i = grid.index(deployed)
        if i is not None:
            samples[i].append(seconds / 3600)
    points = [(i, statistics.median(s)) for i, s in enumerate(samples) if s]
    peak = max([v for _, v in points] + [1.0])
    slot = (WIDTH - 2 * PAD) / len(grid.starts)
    scale = (HEIGHT - 2 * PAD) / peak
    xy = [(PAD + (i + 0.5) * slot, HEIGHT - PAD - v * scale) for i, v in points]
    parts = _svg_open("lead-time-chart", "Median lead time for changes (hours)")
    parts.append(f'<text x="2" y="{PAD - 12}" font-size="14">{peak:.1f} h</text>')
    if xy:
        parts.append('<polyline class="trend" fill="none" stroke="#1565c0" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
        parts += [f'<circle class="point" data-bucket="{grid.starts[i]:%Y-%m-%d}" cx="{x:.1f}" cy="{y:.1f}" '
                  f'r="4" fill="#1565c0"><title>{esc(grid.label(i))}: {v:.1f} h</title></circle>'
                  for (x, y), (i, v) in zip(xy, points, strict=True)]
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="16">'
                     "no commits deployed in this window</text>")
    parts += _axis(grid)
    parts.append("</svg>")
    return "".join(parts)


def _tier(tier: str | None) -> str:
    if tier is None:
        return '<span class="tier none">no tier</span>'
    return f'<span class="tier {esc(tier)}">{esc(tier)}</span>'


def keys_cards(view: DoraView) -> str:
    """One card per key: value, tier, trend against the previous period, sparkline."""
    now, before = view.report.keys, view.previous.keys
    cards = []
    for k in KEYS:
        cls, text = trend(k, now, before, view.days)
        title = k.title
        if k.slug == "time_to_restore" and _get(now, k.section, "definition") == "dora":
            title = "Failed deployment recovery time"  # the 2024 report's name of the key
        cards.append(
            f'<div class="key" data-key="{k.slug}"><div class="name">{esc(title)}</div>'
            f'<div class="value">{esc(k.text(now))}</div><div>{_tier(k.tier(now))}</div>'
            f'<div class="trend {cls}">{esc(text)}</div>'
            f"{sparkline(k, view.series.get(k.slug, []), view.buckets)}</div>")
    return f'<div class="keys">{"".join(cards)}</div>'


def latest_table(report: DoraReport, links: Links) -> str:
    from ..dashboard.html import badge, table

    rows = [[links.a(links.deployment(d.id), d.id), esc(d.component), f"<code>{esc(d.commit[:10])}</code>",
             esc(d.actor or ""), esc(d.trigger), badge(d.status), utc(d.ended_at)]
            for d in report.deployments[:LATEST]]
    return table(["Deployment", "Component", "Commit", "Actor", "Trigger", "Status", "Ended"], rows,
                 "latest", "no deployments in this window")


def benchmark_of(report: DoraReport) -> str:
    body = report.to_json()
    parts = [str(body[k]) for k in ("definitions", "benchmark") if body.get(k)]
    return ", ".join(parts)


def dora_section(view: DoraView, links: Links) -> str:
    r = view.report
    env = esc(r.environment)
    return (f'<section class="card dora" id="dora-{env}"><h2>DORA keys: {env}</h2>'
            f"<p class=\"muted\">{utc(r.window.start)} to {utc(r.window.end)}, {r.keys.get('deployments', 0)} "
            f"deployments counted; tiers: {esc(benchmark_of(r))}; trend against the previous {view.days} days "
            f"({utc(view.previous.window.start)} to {utc(view.previous.window.end)}); sparklines per "
            f"{esc(view.buckets.unit)} (UTC).</p>"
            f"{keys_cards(view)}"
            f'<div class="grid"><figure><figcaption>Deployments per {esc(view.buckets.unit)} by status</figcaption>'
            f"{deployments_chart(r, view.buckets)}</figure>"
            f"<figure><figcaption>Lead time trend (median, hours)</figcaption>{lead_time_chart(r, view.buckets)}"
            f"</figure></div><h3>Latest deployments</h3>{latest_table(r, links)}</section>")
