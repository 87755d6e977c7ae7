"""The overview of one environment, read from the ledger and the state table only (no call to Azure or
Databricks, so the page answers even when a target is down):

* per component, the deployed commit (``current`` record, :mod:`shared.deploy.current`) and the
  latest deployment with its status;
* the schedule state: stopped since when and by whom (the latest stop with no start after it,
  :func:`shared.schedules.hold.stop_in_effect`), the next stop and start (:func:`~shared.schedules.due.next_actions`);
* drift recorded in the window (notebooks overwritten from Git, resources changed by hand while stopped);
* open incidents;
* deployments waiting for approval, with who may approve them (the rule of
  :func:`shared.identity.self_approval_check`, shown before anyone tries), and those waiting for a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .html import Links, badge, esc, parse_time, table, utc

if TYPE_CHECKING:
    from ..app import AppContext
    from ..audit import Activity, DeploymentRecord
    from ..config import PlatformConfig
    from ..deploy.current import Deployed
    from ..metrics.incidents import Incident

WAITING = ("waiting_approval", "waiting_window")
ACTIVE = ("queued", "waiting_lock", "planning", "running")


@dataclass
class ComponentState:
    component: str
    deployed: Deployed | None = None
    deployed_record: DeploymentRecord | None = None  # the record behind ``deployed`` (commit message, author)
    latest: DeploymentRecord | None = None  # the newest deployment of any status


@dataclass
class Approvers:
    """Who may approve a waiting deployment: any verified person except ``excluded``; nobody while
    ``unmapped`` git identities cannot be told apart from an approver."""

    self_approval: bool
    excluded: list[tuple[str, str | None]] = field(default_factory=list)  # (git identity, Entra identity)
    unmapped: list[str] = field(default_factory=list)

    def html(self, environment: str) -> str:
        if self.self_approval:
            return f"any signed-in person (self-approval allowed in {esc(environment)})"
        if self.unmapped:
            return ('<span class="error">nobody yet: no <code>people:</code> entry maps '
                    + ", ".join(f"<code>{esc(u)}</code>" for u in self.unmapped)
                    + " to an Entra identity, so every approval is refused (403 unknown_identity)</span>")
        if not self.excluded:
            return "any signed-in person"
        by_person: dict[str, list[str]] = {}
        for git, entra in self.excluded:
            by_person.setdefault(entra or git, []).append(git)
        who = ", ".join(esc(entra) + (f" (as {esc(', '.join(g for g in gits if g.casefold() != entra))})"
                                      if any(g.casefold() != entra for g in gits) else "")
                        for entra, gits in by_person.items())
        return f"any signed-in person except the people of the change: {who}"


def approvers_of(config: PlatformConfig, rec: DeploymentRecord) -> Approvers:
    """The approval rule of ``rec``, worked out the way :func:`~shared.identity.self_approval_check` does."""
    from ..deploy.commits import people_of_change
    from ..identity import SYSTEM_PREFIX, People

    env = config.environments.get(rec.environment)
    if env is not None and env.allow_self_approval:
        return Approvers(True)
    table_ = People.of(config)
    out = Approvers(False)
    people = people_of_change(rec.actor, rec.commit, rec.commits, rec.commit_range)
    for who in dict.fromkeys(p.strip() for p in people if p and p.strip()):
        if who.startswith(SYSTEM_PREFIX):
            continue
        entra = table_.resolve(who)
        out.excluded.append((who, entra))
        if entra is None:
            out.unmapped.append(who)
    return out


@dataclass
class Waiting:
    record: DeploymentRecord
    approvers: Approvers | None = None  # waiting_approval only
    opens_at: datetime | None = None  # waiting_window: when the windows open


@dataclass
class EnvironmentOverview:
    name: str
    components: list[ComponentState]
    stopped: Activity | None
    schedule: dict[str, Any] | None  # time_zone, stop, start, next {stop, start}
    waiting: list[Waiting]
    drift: list[Activity]
    incidents: list[Incident]
    active: list[DeploymentRecord]

    @property
    def status(self) -> str:
        """failing (a component's latest deployment failed), deploying, waiting, ok, or not deployed."""
        latest = [c.latest for c in self.components if c.latest is not None]
        if any(r.status in ("failed", "rolled_back") for r in latest):
            return "failing"
        if self.active:
            return "deploying"
        if self.waiting:
            return "waiting"
        if not any(c.deployed for c in self.components):
            return "not_deployed"
        return "ok"


def gather(ctx: AppContext, environment: str, now: datetime, days: int) -> EnvironmentOverview:
    """Everything the overview card of ``environment`` shows (ledger and state table reads only)."""
    from ..deploy.current import CurrentDeployments
    from ..errors import NotFound
    from ..metrics.incidents import IncidentBook
    from ..release.windows import window_state
    from ..schedules.due import next_actions
    from ..schedules.hold import stop_in_effect

    env = ctx.config.environment(environment)
    ledger, current = ctx.ledger, CurrentDeployments(ctx.storage)
    names = [s.name for s in ctx.components.present_in(env)] or ctx.components.names()
    components = []
    for name in names:
        state = ComponentState(name, current.get(environment, name), latest=ledger.latest(environment, name))
        if state.deployed is not None:
            try:
                state.deployed_record = ledger.get_deployment(state.deployed.deployment_id, with_plan=False)
            except NotFound:
                pass
        components.append(state)
    schedule = None
    if env.schedule is not None:
        s = env.schedule
        schedule = {"time_zone": s.time_zone, "stop": s.stop, "start": s.start,
                    "next": next_actions(environment, s, now)}
    waiting: list[Waiting] = []
    opens = window_state(env.windows, now).opens_at if env.windows else None
    for status in WAITING:
        for rec in ledger.list_deployments(environment, status=status, limit=50).items:
            waiting.append(Waiting(rec, approvers_of(ctx.config, rec) if status == "waiting_approval" else None,
                                   opens if status == "waiting_window" else None))
    active = [r for status in ACTIVE for r in ledger.list_deployments(environment, status=status, limit=20).items]
    since = now - timedelta(days=days)
    drift = ledger.list_activity(environment, kind="drift", since=since, limit=20).items
    incidents = [i for i in IncidentBook(ledger, ctx.clock).list(environment, since=now - timedelta(days=max(days, 90)))
                 if not i.resolved]
    return EnvironmentOverview(environment, components, stop_in_effect(ledger, environment), schedule, waiting,
                               drift, incidents, active)


# ----------------------------------------------------------------- render
def _local(iso: str | None, zone: str) -> str:
    when = parse_time(iso)
    if when is None:
        return '<span class="none">none scheduled</span>'
    local = when.astimezone(ZoneInfo(zone))
    return f"{utc(when)} <span class=\"muted\">({local:%a %Y-%m-%d %H:%M} {esc(zone)})</span>"


def _schedule(o: EnvironmentOverview) -> str:
    if o.stopped is not None:
        by = o.stopped.data.get("trigger") or "manual"
        state = (f'{badge("stopped")} since {utc(o.stopped.at)} ({esc(by)}'
                 + (f", by {esc(o.stopped.actor)}" if o.stopped.actor else "") + ")")
    else:
        state = badge("running_env", "running")
    if o.schedule is None:
        return f'<div class="schedule"><p>{state}</p><p class="muted">no schedule configured</p></div>'
    nxt = o.schedule["next"]
    zone = o.schedule["time_zone"]
    return (f'<div class="schedule"><p>{state}</p><dl class="kv">'
            f'<dt>next stop</dt><dd class="next-stop">{_local(nxt.get("stop"), zone)}</dd>'
            f'<dt>next start</dt><dd class="next-start">{_local(nxt.get("start"), zone)}</dd></dl></div>')


def _commit_cell(rec: DeploymentRecord | None, commit: str) -> str:
    head = next((c for c in (rec.commits if rec else []) if c.id == commit), None)
    text = f"<code>{esc(commit[:12])}</code>"
    if head is not None and head.message:
        text += f' <span class="message">{esc(head.message.splitlines()[0][:120])}</span>'
    if head is not None and head.author:
        text += f' <span class="muted">by {esc(head.author)}</span>'
    return text


def _components(o: EnvironmentOverview, links: Links) -> str:
    rows = []
    for c in o.components:
        if c.deployed is None:
            deployed = '<span class="none">nothing deployed yet</span>'
            when = utc(None)
        else:
            deployed = _commit_cell(c.deployed_record, c.deployed.commit) + " " + links.a(
                links.deployment(c.deployed.deployment_id), "deployment", "deployed-link")
            when = utc(c.deployed.at)
        latest = (badge(c.latest.status) + " " + links.a(links.deployment(c.latest.id), c.latest.id)
                  if c.latest else '<span class="none">—</span>')
        rows.append([esc(c.component), deployed, when, latest])
    return table(["Component", "Deployed commit", "Since", "Latest deployment"], rows, "components",
                 "no components configured")


def _waiting(o: EnvironmentOverview, links: Links) -> str:
    rows = []
    for w in o.waiting:
        r = w.record
        why = esc(r.extra.get("waiting_reason") or r.status.replace("_", " "))
        if w.approvers is not None:
            who = w.approvers.html(o.name)
        else:
            who = f"opens {utc(w.opens_at)}" if w.opens_at else "waits for a deployment window"
        rows.append([links.a(links.deployment(r.id), r.id), esc(r.component), f"<code>{esc(r.commit[:12])}</code>",
                     esc(r.actor or ""), badge(r.status) + f" {why}", who])
    return table(["Deployment", "Component", "Commit", "Pushed by", "Waiting", "Who may approve"], rows, "waiting",
                 "nothing waiting")


def _drift(o: EnvironmentOverview) -> str:
    rows = [[utc(a.at), esc(a.data.get("component") or ""), esc(a.data.get("path") or a.data.get("name") or ""),
             esc(a.status or a.data.get("change") or ""), esc(a.summary)] for a in o.drift]
    return table(["When", "Component", "Object", "Change", "Summary"], rows, "drift", "no drift recorded")


def _incidents(o: EnvironmentOverview) -> str:
    rows = [[utc(i.opened_at), esc(i.kind), esc(i.title), esc(i.deployment_id or "not attributed")]
            for i in o.incidents]
    return table(["Opened", "Kind", "Title", "Cause"], rows, "incidents", "no open incidents")


def overview_card(o: EnvironmentOverview, links: Links) -> str:
    name = esc(o.name)
    return (f'<section class="card environment" id="env-{name}" data-status="{esc(o.status)}">'
            f'<h2>{name} {badge(o.status)}</h2><div class="cols">'
            f'<div class="block"><h3>Deployed</h3>{_components(o, links)}</div>'
            f'<div class="block"><h3>Schedule</h3>{_schedule(o)}</div>'
            f'<div class="block wide"><h3>Waiting deployments</h3>{_waiting(o, links)}</div>'
            f'<div class="block"><h3>Drift</h3>{_drift(o)}</div>'
            f'<div class="block"><h3>Open incidents</h3>{_incidents(o)}</div></div>'
            f'<p>{links.a(links.dashboard(environment=o.name), "this environment only")}</p></section>')
