"""The dashboard: one self-contained HTML page, charts drawn as inline SVG (no script, no network).

Per environment: deployments over time by status (stacked bars), the lead-time
trend (median per bucket), the DORA keys with their tiers, and the latest
deployments linking to ``/api/deployments/{id}``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from .dora import BENCHMARK, DoraReport, Window, created_at

STATUS_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "rolled_back": "#ef6c00",
                  "superseded": "#9e9e9e", "rejected": "#6a1b9a", "other": "#1565c0"}
TIER_COLOURS = {"elite": "#1b5e20", "high": "#2e7d32", "medium": "#f9a825", "low": "#c62828"}
WIDTH, HEIGHT, PAD = 640, 180, 28
LATEST = 15


def duration(seconds: float | None) -> str:
    """Seconds as a short human duration (``2 h 10 min``)."""
    if seconds is None:
        return "n/a"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours / 24:.1f} d"


def buckets(window: Window) -> tuple[list[datetime], timedelta]:
    """Bucket starts across the window: days up to 60 days, else weeks."""
    size = timedelta(days=1) if window.days <= 60 else timedelta(days=7)
    starts: list[datetime] = []
    at = window.start
    while at < window.end:
        starts.append(at)
        at += size
    return starts or [window.start], size


def _index(starts: Sequence[datetime], size: timedelta, when: datetime) -> int:
    return min(max(int((when - starts[0]) / size), 0), len(starts) - 1)


def deployments_chart(report: DoraReport) -> str:
    """Stacked bars: how many deployments were created per bucket, by final status."""
    starts, size = buckets(report.window)
    counts: list[dict[str, int]] = [{} for _ in starts]
    for d in report.deployments:
        status = d.status if d.status in STATUS_COLOURS else "other"
        bucket = counts[_index(starts, size, created_at(d))]
        bucket[status] = bucket.get(status, 0) + 1
    peak = max([sum(c.values()) for c in counts] + [1])
    bar = (WIDTH - 2 * PAD) / len(starts)
    parts = [f'<svg class="chart deployments-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>Deployments per {'day' if size.days == 1 else 'week'} by status</title>",
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
             f'<text x="2" y="{PAD - 8}" font-size="10">{peak}</text>']
    scale = (HEIGHT - 2 * PAD) / peak
    for i, c in enumerate(counts):
        y: float = HEIGHT - PAD
        for status, colour in STATUS_COLOURS.items():
            n = c.get(status, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(f'<rect class="bar" data-status="{status}" x="{PAD + i * bar:.1f}" y="{y:.1f}" '
                         f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}" fill="{colour}">'
                         f"<title>{starts[i]:%Y-%m-%d}: {n} {status}</title></rect>")
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{starts[0]:%Y-%m-%d}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">'
                 f"{report.window.end:%Y-%m-%d}</text>")
    parts.append("</svg>")
    legend = " ".join(f'<span class="swatch" style="background:{c}"></span>{escape(s)}'
                      for s, c in STATUS_COLOURS.items())
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def lead_time_chart(report: DoraReport) -> str:
    """Line: the median lead time of the commits deployed in each bucket (hours)."""
    starts, size = buckets(report.window)
    samples: list[list[float]] = [[] for _ in starts]
    for _, seconds, deployed in (report.facts.lead_times if report.facts else []):
        samples[_index(starts, size, deployed)].append(seconds / 3600)
    points = [(i, statistics.median(s)) for i, s in enumerate(samples) if s]
    peak = max([v for _, v in points] + [1.0])
    step = (WIDTH - 2 * PAD) / max(len(starts) - 1, 1)
    scale = (HEIGHT - 2 * PAD) / peak
    xy = [(PAD + i * step, HEIGHT - PAD - v * scale) for i, v in points]
    parts = [f'<svg class="chart lead-time-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
             "<title>Median lead time for changes (hours)</title>",
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
             f'<text x="2" y="{PAD - 8}" font-size="10">{peak:.1f} h</text>']
    if xy:
        parts.append('<polyline class="trend" fill="none" stroke="#1565c0" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
        parts += [f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1565c0">'
                  f"<title>{starts[i]:%Y-%m-%d}: {v:.1f} h</title></circle>"
                  for (x, y), (i, v) in zip(xy, points, strict=True)]
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="12">'
                     "no commits deployed in this window</text>")
    parts.append("</svg>")
    return "".join(parts)


def _tier(tier: str | None) -> str:
    if tier is None:
        return '<span class="tier none">n/a</span>'
    return f'<span class="tier {escape(tier)}" style="background:{TIER_COLOURS[tier]}">{escape(tier)}</span>'


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def keys_table(keys: dict[str, Any]) -> str:
    df, lt = keys["deployment_frequency"], keys["lead_time"]
    cfr, ttr, rw, dq = (keys["change_failure_rate"], keys["time_to_restore"], keys["rework_rate"],
                        keys["data_quality"])
    rows = [
        ("Deployment frequency", f"{df['per_week']:.2f} / week ({df['successful']} successful)", df["tier"]),
        ("Lead time for changes", f"median {duration(lt['median_seconds'])}, p90 {duration(lt['p90_seconds'])} "
                                  f"({lt['commits']} commits)", lt["tier"]),
        ("Change failure rate", f"{_pct(cfr['value'])} ({cfr['failed']} failed, {cfr['caused_incident']} caused "
                                f"incidents, of {cfr['deployments']})", cfr["tier"]),
        ("Time to restore", f"median {duration(ttr['median_seconds'])} ({ttr['restores']} restored, "
                            f"{ttr['open']} open)", ttr["tier"]),
    ]
    body = "".join(f'<tr class="key"><th>{escape(name)}</th><td>{escape(value)}</td><td>{_tier(tier)}</td></tr>'
                   for name, value, tier in rows)
    body += (f"<tr><th>Rework rate</th><td>{_pct(rw['value'])} ({rw['rollbacks']} rollbacks, {rw['fixes']} fixes)"
             f"</td><td>{_tier(None)}</td></tr>"
             f"<tr><th>Data-quality issues</th><td>{dq['issues']} ({dq['per_week']:.2f} / week, {dq['open']} open)"
             f"</td><td>{_tier(None)}</td></tr>")
    return f'<table class="keys"><tr><th>Key</th><th>Value</th><th>{BENCHMARK} tier</th></tr>{body}</table>'


def latest_table(report: DoraReport) -> str:
    rows = []
    for d in report.deployments[:LATEST]:
        ended = d.ended_at.strftime("%Y-%m-%d %H:%M") if d.ended_at else ""
        rows.append(f'<tr><td><a href="/api/deployments/{escape(d.id)}">{escape(d.id)}</a></td>'
                    f"<td>{escape(d.component)}</td><td>{escape(d.commit[:10])}</td>"
                    f"<td>{escape(d.actor or '')}</td><td>{escape(d.trigger)}</td>"
                    f'<td class="status-{escape(d.status)}">{escape(d.status)}</td><td>{ended}</td></tr>')
    if not rows:
        rows.append('<tr><td colspan="7">no deployments in this window</td></tr>')
    return ('<table class="latest"><tr><th>Deployment</th><th>Component</th><th>Commit</th><th>Actor</th>'
            "<th>Trigger</th><th>Status</th><th>Ended (UTC)</th></tr>" + "".join(rows) + "</table>")


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
section{border-top:1px solid #ccc;padding:1rem 0}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.25rem .6rem;text-align:left;border-bottom:1px solid #eee}
.tier{color:#fff;padding:.1rem .5rem;border-radius:.6rem;font-size:.85em}.tier.none{color:#666}
.swatch{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .8em}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.legend{font-size:.8em}
.status-failed,.status-rolled_back{color:#c62828}
"""


def render_dashboard(reports: Sequence[DoraReport], generated_at: datetime) -> str:
    """The whole page for the given per-environment reports."""
    sections = []
    for r in reports:
        env = escape(r.environment)
        sections.append(
            f'<section class="environment" id="env-{env}"><h2>{env}</h2>'
            f"<p>{r.window.start:%Y-%m-%d %H:%M} to {r.window.end:%Y-%m-%d %H:%M} UTC, "
            f"{r.keys['deployments']} deployments counted</p>"
            f"{keys_table(r.keys)}"
            f'<div class="charts"><figure><figcaption>Deployments over time by status</figcaption>'
            f"{deployments_chart(r)}</figure>"
            f"<figure><figcaption>Lead time trend (median, hours)</figcaption>{lead_time_chart(r)}</figure></div>"
            f"<h3>Latest deployments</h3>{latest_table(r)}</section>")
    if not sections:
        sections.append("<p>No environments are configured.</p>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,"><title>DataOps dashboard</title>'
            f"<style>{STYLE}</style></head><body><h1>DataOps dashboard</h1>"
            f"<p>DORA keys classified against the {BENCHMARK} benchmark; generated "
            f"{generated_at:%Y-%m-%d %H:%M} UTC.</p>" + "".join(sections) + "</body></html>")
