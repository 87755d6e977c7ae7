"""The dashboard's HTML plumbing: escaping, links that keep the function key, UTC times, the page shell.

Everything a page shows that came from outside (commit messages, author names, notebook paths,
error messages, ARM/Databricks details) goes through :func:`esc`; nothing is ever inserted raw.
The pages carry no script and load nothing from elsewhere: styles are inline, charts inline SVG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

# Nothing may load from elsewhere: styles are inline, images are data: URIs, there is no script.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
PREFIX = "/api"  # host.json extensions.http.routePrefix


def esc(value: Any) -> str:
    """Text as HTML (quotes too: safe inside attribute values)."""
    return escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class Links:
    """URLs of the dashboard's pages. In Azure the routes are function-level auth: a page opened with
    ``?code=`` must hand the key on, or every link answers 401."""

    code: str | None = None

    def url(self, route: str, **params: Any) -> str:
        """The escaped URL of ``route`` (path segments already quoted) with ``params`` and the key."""
        query = {k: str(v) for k, v in params.items() if v not in (None, "")}
        if self.code:
            query["code"] = self.code
        text = f"{PREFIX}/{route.lstrip('/')}" + (f"?{urlencode(query)}" if query else "")
        return esc(text)

    def deployment(self, deployment_id: str) -> str:
        return self.url(f"dashboard/deployments/{quote(deployment_id, safe='')}")

    def dashboard(self, **params: Any) -> str:
        return self.url("dashboard", **params)

    def a(self, href: str, text: Any, cls: str = "") -> str:
        klass = f' class="{esc(cls)}"' if cls else ""
        return f'<a href="{href}"{klass}>{esc(text)}</a>'


def utc(when: datetime | None, *, seconds: bool = False) -> str:
    """A time as ``2026-02-02 10:00 UTC`` inside ``<time>`` (converted to UTC first: a record's
    offset never leaks into a label that says UTC)."""
    if when is None:
        return '<span class="none">—</span>'
    at = when.astimezone(UTC)
    text = at.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f'<time datetime="{esc(at.isoformat())}">{text} UTC</time>'


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def duration(seconds: float | None) -> str:
    """Seconds as a short human duration (``2 h 10 min``, ``45 s``)."""
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 or seconds == 0 else f"{seconds:.1f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours / 24:.1f} d"


STATUS_CLASS = {"succeeded": "ok", "failed": "bad", "rolled_back": "bad", "rejected": "bad",
                "superseded": "muted", "waiting_approval": "wait", "waiting_window": "wait",
                "waiting_lock": "wait", "queued": "wait", "planning": "run", "running": "run",
                "stopped": "wait", "running_env": "ok", "skipped": "muted", "unchanged": "muted", "ok": "ok",
                "failing": "bad", "deploying": "run", "waiting": "wait", "not_deployed": "muted"}


def badge(status: Any, text: Any = None) -> str:
    s = str(status or "unknown")
    return (f'<span class="badge {STATUS_CLASS.get(s, "muted")}" data-status="{esc(s)}">'
            f"{esc(text if text is not None else s.replace('_', ' '))}</span>")


def table(headers: list[str], rows: list[list[str]], cls: str, empty: str) -> str:
    """A table that stacks into labelled blocks on a phone (cells are already HTML)."""
    if not rows:
        return f'<p class="empty {esc(cls)}">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td data-label="{esc(h)}">{c}</td>' for h, c in zip(headers, r, strict=True))
                   + "</tr>" for r in rows)
    return f'<table class="stack {esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def details(value: Any, depth: int = 0) -> str:
    """Any JSON value (ARM/Databricks error details, object details) as nested, escaped HTML."""
    if depth > 6:
        return f"<code>{esc(value)}</code>"
    if isinstance(value, Mapping):
        if not value:
            return '<span class="none">{}</span>'
        items = "".join(f"<dt>{esc(k)}</dt><dd>{details(v, depth + 1)}</dd>" for k, v in value.items())
        return f'<dl class="kv">{items}</dl>'
    if isinstance(value, list | tuple):
        if not value:
            return '<span class="none">[]</span>'
        return "<ol class=\"items\">" + "".join(f"<li>{details(v, depth + 1)}</li>" for v in value) + "</ol>"
    return f"<code>{esc(value)}</code>"


STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1rem 1.5rem;color:#1f2328;
background:#f6f8fa;line-height:1.4;overflow-wrap:break-word}
code,a,.name,.message,.kv dd{overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.25rem;margin:.2rem 0 .6rem}h3{font-size:1.05rem;margin:1rem 0 .4rem}
a{color:#0969da}code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:baseline}
nav.days a,nav.days span{margin-right:.6rem}
section.card{background:#fff;border:1px solid #d0d7de;border-radius:.5rem;padding:1rem;margin:1rem 0;min-width:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:1rem}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,30rem),1fr));gap:0 1.5rem}
.cols>.block{min-width:0}.cols>.block.wide{grid-column:1/-1}
.keys{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,15rem),1fr));gap:.75rem}
.key{border:1px solid #d0d7de;border-radius:.4rem;padding:.6rem;min-width:0}
.key .name{font-weight:600}.key .value{font-size:1.1rem;margin:.2rem 0}.key .trend{font-size:.85rem}
.trend.better{color:#1a7f37}.trend.worse{color:#cf222e}.trend.same{color:#57606a}
figure{margin:0;min-width:0}figcaption{font-size:.85rem;color:#57606a}
svg{display:block;max-width:100%}svg.chart{width:100%;height:auto}svg.spark{width:100%;height:2.5rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{padding:.3rem .5rem;text-align:left;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-size:.85rem;color:#57606a}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem;color:#fff;background:#6e7781;
white-space:nowrap}
.badge.ok{background:#1a7f37}.badge.bad{background:#cf222e}.badge.wait{background:#9a6700}.badge.run{background:#0969da}
.tier{color:#fff;padding:.05rem .5rem;border-radius:1rem;font-size:.8rem}.tier.none{color:#57606a;background:#eaeef2}
.tier.elite{background:#1b5e20}.tier.high{background:#2e7d32}.tier.medium{background:#9a6700}.tier.low{background:#c62828}
.swatch{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .8em}.legend{font-size:.8rem}
.none,.muted,.empty{color:#57606a}.error{color:#cf222e}
dl.kv{display:grid;grid-template-columns:minmax(6rem,max-content) 1fr;gap:.1rem .8rem;margin:.2rem 0}
dl.kv dt{font-weight:600;color:#57606a}dl.kv dd{margin:0;min-width:0}
ol.items{margin:.2rem 0;padding-left:1.2rem}
.meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,16rem),1fr));gap:.3rem 1rem}
pre{white-space:pre-wrap;margin:0}
@media (max-width:700px){
 body{padding:.5rem}
 table.stack thead{display:none}
 table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}
 table.stack tr{border-bottom:1px solid #d0d7de;padding:.3rem 0}
 table.stack td{border:0;padding:.1rem 0}
 table.stack td::before{content:attr(data-label) ": ";font-weight:600;color:#57606a}
}
"""


def page(title: str, body: str, generated_at: datetime) -> str:
    """The whole document around ``body`` (already HTML)."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}"
            f'<footer class="muted">Generated {utc(generated_at)}. All times UTC unless marked.</footer>'
            "</body></html>")
