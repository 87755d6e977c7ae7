"""``dataops audit``, ``dataops metrics`` and ``dataops incident``: the same queries as the HTTP API."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ..audit.queries import STATUSES, HistoryQuery, deployment_detail, list_history
from ..deploy.components import COMPONENTS, ComponentRegistry
from ..identity import Principal, cli_principal
from ..metrics.dora import BENCHMARKS, DEFINITIONS, HOUR
from ..metrics.incidents import INCIDENT_KINDS, INCIDENT_STATES
from ..metrics.params import IncidentOpening, IncidentQuery, MetricsQuery, ResolutionRequest
from ._common import add_dry_run, add_json, context, cut, print_json, print_table, when


def _hours(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / HOUR:.2f} h"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


# ------------------------------------------------------------------- audit
NOTE_WIDTH = 60


def clock_time(iso: str | None, local: bool = False) -> str:
    """An ISO 8601 time as ``2026-01-05T10:00:00Z`` (UTC), or in the local zone with its offset."""
    if not iso:
        return ""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone() if local else t.astimezone(UTC)
    text = t.replace(microsecond=0).isoformat()
    return text.replace("+00:00", "Z") if not local else text


def span(seconds: float | None) -> str:
    """Seconds as ``42s``, ``3m05s``, ``2h10m``, ``3d4h``."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def audit_list(args: argparse.Namespace) -> int:
    ctx = context(args)
    raw = {"environment": args.env, "component": args.component, "status": args.status, "since": args.since,
           "until": args.until, "actor": args.actor, "commit": args.commit,
           "limit": None if args.limit is None else str(args.limit), "continuation": args.continuation,
           "include": "activity" if args.with_activity else None, "branch": args.branch}
    query = HistoryQuery.parse({k: v for k, v in raw.items() if v is not None}, list(ctx.config.environments),
                               ctx.components.names())
    page = list_history(ctx.ledger, query)
    items: list[dict[str, Any]] = [i if isinstance(i, dict) else i.to_json(include_plan=False)
                                   for i in page.items]
    if args.json:
        print_json({"items": items, "count": len(items), "continuation": page.continuation})
        return 0
    local = getattr(args, "local_time", False)
    rows = []
    for i in items:
        if i.get("type") == "activity":
            rows.append([i["id"], i["environment"], i["kind"], "", i.get("actor"), "", i.get("status"),
                         "", "", clock_time(i["at"], local), "", "", cut(i.get("summary"), NOTE_WIDTH)])
        else:
            rows.append([i["id"], i["environment"], i["component"], (i.get("commit") or "")[:10], i.get("actor"),
                         i.get("trigger"), i["status"], clock_time(i.get("queued_at"), local),
                         clock_time(i.get("started_at"), local), clock_time(i.get("ended_at"), local),
                         span(i.get("wait_seconds")), span(i.get("duration_seconds")),
                         cut(i.get("error"), NOTE_WIDTH)])
    print_table(rows, ["id", "env", "component", "commit", "actor", "trigger", "status", "queued", "started",
                       "ended", "wait", "run", "note"])
    if page.continuation:
        print(f"more: --continuation {page.continuation}")
    return 0


def audit_show(args: argparse.Namespace) -> int:
    ctx = context(args)
    detail = deployment_detail(ctx.ledger, args.id)
    if args.json:
        print_json(detail)
        return 0
    local = getattr(args, "local_time", False)
    times = {"queued_at", "started_at", "ended_at"}
    for name in ("id", "environment", "component", "commit", "ref", "actor", "actor_verified", "actor_source",
                 "trigger", "status", "queued_at", "started_at", "ended_at", "wait_seconds", "duration_seconds",
                 "error", "rollback_of", "trace_id"):
        if detail.get(name) not in (None, ""):
            value = detail[name]
            if name in times:
                value = clock_time(value, local)
            elif name.endswith("_seconds"):
                value = span(value)
            label = {"wait_seconds": "wait:", "duration_seconds": "run:"}.get(name, name + ":")
            print(f"{label:<18}{value}")
    if detail.get("summary"):
        print(f"{'summary:':<18}" + ", ".join(f"{k}={v}" for k, v in sorted(detail["summary"].items())))
    if detail.get("commits"):
        rng = detail.get("commit_range") or {}
        since = f" since {str(rng['base'])[:12]}" if rng.get("base") else ""
        more = f" of {rng['total']}" if rng.get("total") not in (None, len(detail["commits"])) else ""
        print(f"\ncommits ({len(detail['commits'])}{more}{since}{', truncated' if rng.get('truncated') else ''})")
        print_table([[c["id"][:12], c.get("author") or "", c.get("author_email") or "",
                      ", ".join(c.get("co_authors") or []), (c.get("message") or "").splitlines()[0][:50]
                      if c.get("message") else ""] for c in detail["commits"]],
                    ["commit", "author", "e-mail", "co-authors", "message"])
    print("\nstatus history")
    print_table([[clock_time(h.get("at"), local), h.get("status"), h.get("error") or ""]
                 for h in detail["status_history"]], ["at", "status", "error"])
    if detail["steps"]:
        print("\nsteps")
        print_table([[s["seq"], s["name"], s["status"], clock_time(s.get("started_at"), local),
                      clock_time(s.get("ended_at"), local), cut(s.get("error"), NOTE_WIDTH)]
                     for s in detail["steps"]], ["seq", "name", "status", "started", "ended", "error"])
    if detail["objects"]:
        print("\nobjects (in the order they happened)")
        print_table([[clock_time(o.get("at"), local), o["action"], o["object_type"], o["name"], o["status"],
                      cut(o.get("error"), NOTE_WIDTH)]
                     for o in detail["objects"]], ["at", "action", "type", "name", "status", "error"])
    if getattr(args, "trace", False):
        _print_trace(detail, args.trace_file)
    return 0


def _print_trace(detail: dict[str, Any], trace_file: str | None) -> None:
    from shared.tracefile import read_trace, tree_lines
    from shared.tracefile import trace_file as default_file

    path = default_file(trace_file)
    print(f"\ntrace {detail.get('trace_id') or '(none recorded)'}  ({path})")
    lines = tree_lines(read_trace(path, detail["trace_id"]), detail["id"]) if detail.get("trace_id") else []
    for line in lines or ["  no spans of this deployment in the trace file (set DATAOPS_TRACE_FILE)"]:
        print("  " + line)


# ----------------------------------------------------------------- metrics
def _key_rows(keys: dict[str, Any]) -> list[list[Any]]:
    df, lt, cfr = keys["deployment_frequency"], keys["lead_time"], keys["change_failure_rate"]
    ttr, rw, dq = keys["time_to_restore"], keys["rework_rate"], keys["data_quality"]

    def by(k: dict[str, Any]) -> str:
        return f"{k['definition']}" + (f", {k['benchmark']}" if k.get("benchmark") else "")

    return [
        ["deployment frequency", f"{df['median_days_per_week']:g} deployment days/week, "
                                 f"{df['median_days_per_month']:g}/month (median; {df['successful']} successful)",
         df["tier"], by(df)],
        ["lead time (median)", f"{_hours(lt['median_seconds'])} (p90 {_hours(lt['p90_seconds'])}, "
                               f"{lt['commits']} commits)", lt["tier"], by(lt)],
        ["change failure rate", f"{_pct(cfr['value'])} ({cfr['numerator']}/{cfr['deployments']}: {cfr['failed']} failed, "
                                f"{cfr['caused_incident']} caused incidents)", cfr["tier"], by(cfr)],
        ["recovery time (median)", f"{_hours(ttr['median_seconds'])} ({ttr['restores']} restored, "
                                   f"{ttr['open']} open)", ttr["tier"], by(ttr)],
        ["rework rate", f"{_pct(rw['value'])} ({rw['rollbacks']} rollbacks + {rw['fixes']} fixes + "
                        f"{rw['hotfixes']} hotfixes)", "-", by(rw)],
        ["data-quality issues", f"{dq['issues']} ({dq['per_week']:.2f}/week, {dq['open']} open)", "-", by(dq)],
    ]


def metrics_dora(args: argparse.Namespace) -> int:
    ctx = context(args)
    raw = {"environment": args.env, "days": None if args.days is None else str(args.days),
           "group_by": args.by, "definitions": args.definitions,
           "benchmark": None if args.benchmark is None else str(args.benchmark)}
    q = MetricsQuery.parse({k: v for k, v in raw.items() if v is not None}, list(ctx.config.environments),
                           ctx.config.production_environment)
    body = q.report(ctx).to_json()
    if args.json:
        print_json(body)
        return 0
    print(f"{q.environment}: last {q.days} days, {body['deployments']} deployments "
          f"({body['definitions']} definitions, {body['benchmark']} tiers)")
    headers = ["key", "value", "tier", "definition, tiers"]
    print_table(_key_rows(body), headers)
    for actor, keys in (body.get("by_developer") or {}).items():
        print(f"\n{actor} ({body['group_by']}): {keys['deployments']} deployments")
        print_table(_key_rows(keys), headers)
    return 0


# ---------------------------------------------------------------- incident
ACTOR_HELP = ("who {verb}: only with security.local_identities: true (local runs); default the signed-in "
              "Azure identity, else cli:<login name>, unverified")


def _print_incident(body: dict[str, Any], verb: str) -> None:
    print(f"{verb} {body['kind']} {body['id'] or '(dry run)'} in {body['environment']}: {body['title']}")
    def by(name: str | None, verified: bool | None) -> str:
        return f" by {name}{' (unverified)' if verified is False else ''}" if name else ""

    print(f"  status {body['status']}, opened {body['opened_at']}{by(body.get('actor'), body.get('actor_verified'))}"
          + (f", resolved {body['resolved_at']}{by(body.get('resolved_by'), body.get('resolved_by_verified'))}"
             if body.get("resolved_at") else ""))
    cause = body.get("cause") or {}
    if cause:
        print(f"  cause: {cause.get('note')}" + (f" ({body['deployment_id']})" if body.get("deployment_id") else ""))


def _incident_actor(args: argparse.Namespace, config: Any) -> Principal:
    """Who reports or resolves: the Azure sign-in, else ``cli:<os user>`` (unverified), as ``deploy`` and
    ``env`` record it; ``--actor`` names someone only with ``security.local_identities``."""
    return cli_principal(config, args.actor)


def incident_open(args: argparse.Namespace) -> int:
    ctx = context(args)
    actor = _incident_actor(args, ctx.config)
    raw = {"environment": args.env, "kind": args.kind, "title": args.title, "caused_by": args.caused_by,
           "opened_at": args.opened_at, "key": args.key}
    opening = IncidentOpening.parse({k: v for k, v in raw.items() if v is not None}, list(ctx.config.environments))
    incident, created = opening.open(ctx, actor=actor, dry_run=args.dry_run)
    body = incident.to_json()
    if args.json:
        print_json({**body, "created": created, "dry_run": args.dry_run})
    else:
        _print_incident(body, "would open" if args.dry_run else ("opened" if created else "already recorded"))
    return 0


def incident_list(args: argparse.Namespace) -> int:
    ctx = context(args)
    raw = {"environment": args.env, "state": args.state, "kind": args.kind, "since": args.since,
           "until": args.until, "limit": None if args.limit is None else str(args.limit),
           "continuation": args.continuation}
    query = IncidentQuery.parse({k: v for k, v in raw.items() if v is not None}, list(ctx.config.environments))
    body = query.answer(ctx)
    if args.json:
        print_json(body)
        return 0
    local = getattr(args, "local_time", False)
    print_table([[i["id"], i["environment"], i["kind"], i["status"], clock_time(i["opened_at"], local),
                  clock_time(i.get("resolved_at"), local), i.get("deployment_id") or "", cut(i["title"], NOTE_WIDTH)]
                 for i in body["items"]], ["id", "env", "kind", "state", "opened", "resolved", "deployment", "title"])
    if body["continuation"]:
        print(f"more: --continuation {body['continuation']}")
    return 0


def incident_resolve(args: argparse.Namespace) -> int:
    ctx = context(args)
    actor = _incident_actor(args, ctx.config)
    raw = {"resolved_at": args.at, "note": args.note}
    resolution = ResolutionRequest.parse({k: v for k, v in raw.items() if v is not None})
    incident, changed = resolution.resolve(ctx, args.id, actor=actor, dry_run=args.dry_run)
    body = incident.to_json()
    if args.json:
        print_json({**body, "changed": changed, "dry_run": args.dry_run})
    else:
        _print_incident(body, "would resolve" if args.dry_run else ("resolved" if changed else "already resolved"))
    return 0


# ------------------------------------------------------------- registration
def register(sub: argparse._SubParsersAction, components: ComponentRegistry = COMPONENTS) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="query the deployment history").add_subparsers(
        dest="audit_command", metavar="list|show", required=True)
    p = audit.add_parser("list", help="deployments newest first (one partition range per environment)")
    p.add_argument("--env", help="environment (default: all configured)")
    p.add_argument("--component", choices=components.names())
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--since", metavar="T", type=when,
                   help="ISO 8601 time (2026-01-05T10:00:00Z) or an age: 2d, 3h, 30m, 1w")
    p.add_argument("--until", metavar="T", type=when, help="ISO 8601 time or an age (2d, 3h, ...)")
    p.add_argument("--actor")
    p.add_argument("--commit", metavar="SHA", help="commit SHA or prefix (4+ hex digits)")
    p.add_argument("--branch", metavar="NAME", help="deployments of this branch (branch workspaces)")
    p.add_argument("--limit", type=int, metavar="N", help="1 to 1000 (default 50)")
    p.add_argument("--continuation", metavar="TOKEN", help="token printed by the previous page")
    p.add_argument("--with-activity", action="store_true",
                   help="merge toggles, schedule actions, drift, approvals and incidents (needs --env)")
    p.add_argument("--local-time", action="store_true",
                   help="show times in this machine's time zone with its offset (default: UTC with Z)")
    add_json(p)
    p.set_defaults(handler=audit_list)
    p = audit.add_parser("show", help="one deployment with plan, steps, objects and status history")
    p.add_argument("id", metavar="DEPLOYMENT_ID")
    p.add_argument("--trace", action="store_true", help="print the span tree of the deployment with durations")
    p.add_argument("--local-time", action="store_true",
                   help="show times in this machine's time zone with its offset (default: UTC with Z)")
    p.add_argument("--trace-file", help="spans as JSON lines (default DATAOPS_TRACE_FILE or .local/traces.jsonl)")
    add_json(p)
    p.set_defaults(handler=audit_show)

    metrics = sub.add_parser("metrics", help="DataOps (DORA) metrics").add_subparsers(
        dest="metrics_command", metavar="dora", required=True)
    p = metrics.add_parser("dora", help="the DORA keys of an environment, with their tiers")
    p.add_argument("--env", help="environment (default: the production environment)")
    p.add_argument("--days", type=int, metavar="N", help="window in days (default 30)")
    p.add_argument("--by", choices=["author", "pusher", "developer"],
                   help="also per developer: commit author (people: mapped; 'developer' is the same) or pusher")
    p.add_argument("--definitions", choices=list(DEFINITIONS), help="default: metrics.definitions (dora)")
    p.add_argument("--benchmark", type=int, choices=sorted(BENCHMARKS),
                   help="tier table of this report year (default: metrics.benchmark, 2024)")
    add_json(p)
    p.set_defaults(handler=metrics_dora)

    incident = sub.add_parser("incident", help="record incidents and data-quality issues").add_subparsers(
        dest="incident_command", metavar="list|open|resolve", required=True)
    p = incident.add_parser("list", help="incidents and data-quality issues, newest first")
    p.add_argument("--env", help="environment (default: all configured)")
    p.add_argument("--state", choices=list(INCIDENT_STATES))
    p.add_argument("--kind", choices=list(INCIDENT_KINDS))
    p.add_argument("--since", metavar="T", type=when, help="opened at or after: ISO 8601 time or an age (2d, 3h, ...)")
    p.add_argument("--until", metavar="T", type=when, help="opened at or before: ISO 8601 time or an age")
    p.add_argument("--limit", type=int, metavar="N", help="1 to 1000 (default 50)")
    p.add_argument("--continuation", metavar="TOKEN", help="token printed by the previous page")
    p.add_argument("--local-time", action="store_true",
                   help="show times in this machine's time zone with its offset (default: UTC with Z)")
    add_json(p)
    p.set_defaults(handler=incident_list)
    p = incident.add_parser("open", help="record an incident or data-quality issue")
    p.add_argument("--env", required=True)
    p.add_argument("--title", required=True)
    p.add_argument("--kind", choices=["incident", "data_quality"], default="incident")
    p.add_argument("--caused-by", metavar="DEPLOYMENT_ID|SHA",
                   help="the deployment or commit that caused it (default: attribute to the latest success)")
    p.add_argument("--opened-at", metavar="T", type=when, help="ISO 8601 time or an age (2h, 1d; default now)")
    p.add_argument("--key", help="idempotency key (e.g. the pager's incident id)")
    p.add_argument("--actor", help=ACTOR_HELP.format(verb="reports it"))
    add_dry_run(p)
    add_json(p)
    p.set_defaults(handler=incident_open)
    p = incident.add_parser("resolve", help="mark an incident resolved")
    p.add_argument("id", metavar="INCIDENT_ID")
    p.add_argument("--at", metavar="T", type=when, help="ISO 8601 resolution time or an age (30m; default now)")
    p.add_argument("--note")
    p.add_argument("--actor", help=ACTOR_HELP.format(verb="resolves it"))
    add_dry_run(p)
    add_json(p)
    p.set_defaults(handler=incident_resolve)
