"""One deployment as an HTML page: what ``GET /api/deployments/{id}`` answers, for a person.

Header (status, environment, component, trigger, who, commit, times, the trace id to look it up in
Application Insights), the error with its ARM/Databricks details, the commits it carried, the plan,
the steps with their durations, the per-object results in the order they happened (with the time
each was known) and the status history. Every value is escaped.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .html import Links, badge, details, duration, esc, parse_time, table, utc

MAX_ROWS = 1000  # a plan or result list beyond this is cut (the JSON has all of it)


def _time(value: Any) -> str:
    return utc(parse_time(value), seconds=True)


def _seconds(start: Any, end: Any) -> float | None:
    a, b = parse_time(start), parse_time(end)
    return (b - a).total_seconds() if a and b else None


def _cut(rows: list[list[str]], total: int, what: str, links: Links, dep_id: str) -> str:
    if total <= MAX_ROWS:
        return ""
    return (f'<p class="muted">{MAX_ROWS} of {total} {esc(what)} shown; all of them in '
            f'{links.a(links.url("deployments/" + quote(dep_id, safe="")), "the JSON record")}.</p>')


def _header(d: dict[str, Any], links: Links) -> str:
    rollback = (f"<dt>rollback of</dt><dd>{links.a(links.deployment(d['rollback_of']), d['rollback_of'])}</dd>"
                if d.get("rollback_of") else "")
    approval = d.get("extra", {}).get("approval") or {}
    decided = (f"<dt>approval</dt><dd>{esc(approval.get('decision'))} by {esc(approval.get('by'))} "
               f"{_time(approval.get('at'))}</dd>" if approval else "")
    return (f'<section class="card head"><h1>Deployment <code class="dep-id">{esc(d["id"])}</code> '
            f'{badge(d.get("status"))}</h1><dl class="kv meta-list">'
            f"<dt>environment</dt><dd>{esc(d.get('environment'))}</dd>"
            f"<dt>component</dt><dd>{esc(d.get('component'))}</dd>"
            f"<dt>trigger</dt><dd>{esc(d.get('trigger'))}{' (forced)' if d.get('forced') else ''}</dd>"
            f"<dt>pushed by</dt><dd>{esc(d.get('actor') or 'unknown')}</dd>"
            f"<dt>commit</dt><dd><code>{esc(d.get('commit'))}</code> {esc(d.get('ref') or '')}</dd>"
            f"<dt>queued</dt><dd>{_time(d.get('queued_at'))}</dd>"
            f"<dt>started</dt><dd>{_time(d.get('started_at'))}</dd>"
            f"<dt>ended</dt><dd>{_time(d.get('ended_at'))}</dd>"
            f"<dt>waited</dt><dd>{esc(duration(d.get('wait_seconds')))} (queued to started)</dd>"
            f"<dt>ran</dt><dd class=\"run-duration\">{esc(duration(d.get('duration_seconds')))}</dd>"
            f'<dt>trace id</dt><dd><code class="trace-id">{esc(d.get("trace_id") or "none recorded")}</code></dd>'
            f"{rollback}{decided}</dl>"
            f'<p>{links.a(links.dashboard(environment=d.get("environment")), "back to the dashboard")} · '
            f'{links.a(links.url("deployments/" + quote(d["id"], safe="")), "JSON")}</p></section>')


def _error(d: dict[str, Any]) -> str:
    if not d.get("error") and not d.get("error_details"):
        return ""
    more = f"<h3>Details</h3>{details(d['error_details'])}" if d.get("error_details") else ""
    return (f'<section class="card failure"><h2 class="error">Error</h2>'
            f'<pre class="error-text">{esc(d.get("error") or "")}</pre>{more}</section>')


def _commits(d: dict[str, Any]) -> str:
    rows = [[f"<code>{esc(str(c.get('id', ''))[:12])}</code>", esc(c.get("author") or c.get("author_email") or ""),
             _time(c.get("timestamp")), f'<span class="message">{esc(c.get("message") or "")}</span>']
            for c in d.get("commits") or []]
    return (f'<section class="card commits"><h2>Commits ({len(rows)})</h2>'
            + table(["Commit", "Author", "Time", "Message"], rows, "commits", "no commits recorded") + "</section>")


def _plan(d: dict[str, Any], links: Links) -> str:
    plan = d.get("plan")
    if not plan:
        return '<section class="card plan"><h2>Plan</h2><p class="empty">no plan recorded</p></section>'
    counts = ", ".join(f"{esc(k)}: {esc(v)}" for k, v in (plan.get("counts") or {}).items()) or "no actions"
    warnings = "".join(f"<li>{esc(w)}</li>" for w in plan.get("warnings") or [])
    refused = f'<p class="error">refused: {esc(plan["refused"])}</p>' if plan.get("refused") else ""
    actions = plan.get("actions") or []
    rows = [[esc(a.get("action")), esc(a.get("object_type")), f'<span class="name">{esc(a.get("name"))}</span>',
             esc(a.get("reason") or "")] for a in actions[:MAX_ROWS]]
    return (f'<section class="card plan"><h2>Plan</h2><p class="counts">{counts}</p>{refused}'
            + (f'<ul class="warnings">{warnings}</ul>' if warnings else "")
            + table(["Action", "Type", "Name", "Reason"], rows, "plan-actions", "the plan changes nothing")
            + _cut(rows, len(actions), "actions", links, d["id"]) + "</section>")


def _steps(d: dict[str, Any]) -> str:
    rows = []
    for s in d.get("steps") or []:
        extra = {k: v for k, v in (s.get("details") or {}).items()}
        rows.append([esc(s.get("seq")), esc(s.get("name")), badge(s.get("status")), _time(s.get("started_at")),
                     _time(s.get("ended_at")),
                     f'<span class="duration">{esc(duration(_seconds(s.get("started_at"), s.get("ended_at"))))}</span>',
                     (f'<span class="error">{esc(s["error"])}</span>' if s.get("error") else "")
                     + (details(extra) if extra else "")])
    return ('<section class="card steps"><h2>Steps</h2>'
            + table(["#", "Step", "Status", "Started", "Ended", "Duration", "Details"], rows, "steps",
                    "no steps recorded") + "</section>")


def _objects(d: dict[str, Any], links: Links) -> str:
    objects = d.get("objects") or []
    rows = []
    for i, o in enumerate(objects[:MAX_ROWS], 1):
        cell = f'<span class="error">{esc(o["error"])}</span>' if o.get("error") else ""
        if o.get("details"):
            cell += details(o["details"])
        rows.append([esc(i), _time(o.get("at")), esc(o.get("object_type")), f'<span class="name">{esc(o.get("name"))}</span>',
                     esc(o.get("action")), badge(o.get("status")), cell])
    failed = sum(o.get("status") == "failed" for o in objects)
    return (f'<section class="card objects"><h2>Per-object results ({len(objects)}, {failed} failed)</h2>'
            '<p class="muted">In the order they happened; the time is when each outcome was known.</p>'
            + table(["#", "Time", "Type", "Name", "Action", "Status", "Error / details"], rows, "object-results",
                    "no per-object results recorded")
            + _cut(rows, len(objects), "results", links, d["id"]) + "</section>")


def _history(d: dict[str, Any]) -> str:
    rows = [[_time(h.get("at")), badge(h.get("status")), esc(h.get("error") or "")]
            for h in d.get("status_history") or []]
    return ('<section class="card history"><h2>Status history</h2>'
            + table(["When", "Status", "Note"], rows, "status-history", "no transitions recorded") + "</section>")


def deployment_body(d: dict[str, Any], links: Links) -> str:
    """The page body for ``d``, the answer of :func:`shared.audit.queries.deployment_detail`."""
    return (_header(d, links) + _error(d) + _commits(d) + _plan(d, links) + _steps(d) + _objects(d, links)
            + _history(d))
