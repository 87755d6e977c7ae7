"""``dataops plan | deploy | rollback`` (SPEC section 4).

``plan`` computes what a deployment would do and prints it as a table of
actions (or JSON); it changes nothing. ``deploy`` records a manual deployment
and runs it here, through the same orchestrator as the queue worker (lock,
supersede check, plan, apply, audit). ``rollback`` redeploys the last
successful commit before the current one (or ``--to SHA``), recorded as a
rollback.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from .. import progress
from ..app import AppContext
from ..audit.records import DeploymentRecord
from ..deploy.components import COMPONENTS, ComponentRegistry
from ..deploy.lifecycle import Opening, open_deployment, request_for
from ..deploy.model import DeployContext, Plan
from ..deploy.orchestrator import Outcome, rollback_target
from ..errors import BadRequest, NotFound
from ..git.hosts import GitSource, source_for
from ..identity import Principal, cli_principal, require_verified
from ._common import (
    add_dry_run,
    add_json,
    add_yes,
    confirm_protected,
    context,
    is_tty,
    print_json,
    print_table,
)
from ._progress import LiveDeploy, object_line

log = logging.getLogger("dataops.cli")


def register(sub: argparse._SubParsersAction, components: ComponentRegistry = COMPONENTS) -> None:  # type: ignore[type-arg]
    names = components.names()
    for name, helptext in (("plan", "show what a deployment would change (changes nothing)"),
                           ("deploy", "deploy a commit to an environment now")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--env", required=True, help="environment name")
        p.add_argument("--component", choices=(*names, "all"), default="all")
        p.add_argument("--repo", metavar="PATH_OR_URL", help="a local git repository or the configured remote")
        p.add_argument("--ref", help="branch, tag or commit (default: the branch each component deploys from)")
        add_json(p)
        if name == "deploy":
            add_dry_run(p)
            add_yes(p)
            p.add_argument("--force", action="store_true",
                           help="deploy even a commit that is not a descendant of the deployed one, or a "
                                "refused plan (needs --reason; recorded as forced)")
            p.add_argument("--reason", help="why (required with --force; recorded)")
            p.add_argument("--actor", help="who deploys (only with security.local_identities: true; default: "
                                           "the signed-in Azure identity, else cli:<os user>, unverified)")
            p.set_defaults(handler=_deploy)
        else:
            p.add_argument("--what-if", action="store_true",
                           help="adf: also show ARM's what-if of the deployment (where the endpoint supports it)")
            p.add_argument("--exit-code", action="store_true",
                           help="exit 1 when the plan has changes (0: nothing to do), like terraform -detailed-exitcode")
            p.set_defaults(handler=_plan)
    r = sub.add_parser("rollback", help="redeploy the last good commit before the current one")
    r.add_argument("--env", required=True)
    r.add_argument("--component", choices=names, required=True)
    r.add_argument("--to", metavar="SHA", help="the commit to go back to (default: the last good one before)")
    r.add_argument("--repo", metavar="PATH_OR_URL")
    r.add_argument("--actor", help="who rolls back (only with security.local_identities: true)")
    r.add_argument("--reason", help="why (recorded; required with --emergency)")
    r.add_argument("--emergency", action="store_true",
                   help="skip approval and windows (needs --reason and a role in security.emergency_roles; "
                        "recorded and notified)")
    add_dry_run(r)
    add_json(r)
    r.set_defaults(handler=_rollback)


# ------------------------------------------------------------------- helpers
def _components(app: AppContext, env: str, choice: str) -> list[str]:
    wanted = list(app.components.names()) if choice == "all" else [choice]
    present = [c.name for c in app.components.present_in(app.config.environment(env), wanted)]
    if not present:
        raise BadRequest(f"environment {env!r} has no {' or '.join(wanted)} target configured",
                         code="no_target")
    return present


def _default_ref(app: AppContext, component: str) -> str:
    return app.components.get(component).default_ref(app.config)


def _source(app: AppContext, repo: str | None) -> GitSource:
    return source_for(app.config.repository, app.settings, url=repo)


def _storage_or_none(app: AppContext) -> Any:
    return app.storage if (app.settings.storage_connection or app.settings.storage_account) else None


def _plan_one(app: AppContext, source: GitSource, env: str, component: str, ref: str | None,
              what_if: bool = False) -> Plan:
    ref = ref or _default_ref(app, component)
    log.info("reading %s at %s from %s", component, ref, source.url)
    snapshot = source.snapshot(ref)
    log.info("planning %s for %s at %s (%d files)", component, env, snapshot.sha[:12], len(snapshot.files))
    ctx = DeployContext(config=app.config, environment=env, snapshot=snapshot, settings=app.settings,
                        clock=app.clock, storage=_storage_or_none(app), dry_run=True)
    deployer = app.components.deployer(component)
    plan = deployer.plan(ctx)
    log.info("planned %s for %s: %s", component, env,
             ", ".join(f"{k} {v}" for k, v in sorted(plan.counts().items())) or "nothing")
    what_if_of = getattr(deployer, "what_if", None) if what_if else None
    return what_if_of(ctx, plan) if what_if_of is not None else plan


def print_plan(plan: Plan) -> None:
    """A plan as a table of actions, then its counts, warnings and refusal."""
    print(f"{plan.component} -> {plan.environment} at {plan.commit[:12]}")
    rows = [(a.action, a.object_type, a.name, a.reason) for a in plan.actions
            if a.action not in ("unchanged", "leave")]
    if rows:
        print_table(rows, ["action", "type", "name", "reason"])
    else:
        print("  no changes")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan.counts().items())) or "nothing"
    print(f"  {counts}")
    for w in plan.warnings:
        print(f"  warning: {w}")
    if plan.refused:
        print(f"  REFUSED: {plan.refused}")
    what_if = plan.data.get("what_if")
    if isinstance(what_if, dict):
        if what_if.get("supported"):
            counts = ", ".join(f"{k} {v}" for k, v in sorted((what_if.get("counts") or {}).items())) or "nothing"
            print(f"  ARM what-if: {counts}")
        else:
            print(f"  ARM what-if not available: {what_if.get('reason')}")


def _plan(args: argparse.Namespace) -> int:
    app = context(args)
    source = _source(app, args.repo)
    plans = [_plan_one(app, source, args.env, c, args.ref, getattr(args, "what_if", False))
             for c in _components(app, args.env, args.component)]
    if args.json:
        print_json([p.to_json() for p in plans])
    else:
        for p in plans:
            print_plan(p)
    if any(p.refused for p in plans):
        return 1
    return 1 if getattr(args, "exit_code", False) and any(p.has_changes for p in plans) else 0


def _run_inline(app: AppContext, source: GitSource, *, env: str, component: str, sha: str, ref: str,
                trigger: str, actor: Principal, force: bool, reason: str | None = None,
                view: LiveDeploy | None = None) -> Outcome:
    """Open the deployment (recorded, not queued) and run it here through the worker's orchestrator."""
    rec = open_deployment(app.ledger, None, Opening(
        environment=env, component=component, commit=sha, trigger=trigger, ref=ref, repository=source.url,
        actor=actor.name, actor_verified=actor.verified, actor_source=actor.source, force=force,
        extra={"actor_principal": actor.to_json(), **({"force_reason": reason} if force else {})}))
    return _run_opened(app, source, rec, view)


def _run_opened(app: AppContext, source: GitSource, rec: DeploymentRecord, view: LiveDeploy | None = None
                ) -> Outcome:
    from ..release import release_orchestrator

    orch = release_orchestrator(app, source=source, holder=f"cli:{rec.actor}")
    if view is None:
        return orch.run(request_for(rec))
    with progress.watching(view):
        return orch.run(request_for(rec))


def _view(args: argparse.Namespace) -> LiveDeploy | None:
    """Table output: live at a terminal; elsewhere the plans are collected for the report at the end."""
    return None if args.json else LiveDeploy(live=is_tty())


def _report(app: AppContext, outcomes: list[Outcome], as_json: bool, view: LiveDeploy | None = None) -> int:
    recs = [app.ledger.get_deployment(o.deployment_id, with_plan=False) for o in outcomes]
    if as_json:
        print_json([r.to_json(include_plan=False) for r in recs])
    else:
        if view is not None and not view.live:  # not a terminal: the plan and the results, in order
            for plan in view.plans:
                print_plan(plan)
            for r in recs:
                objects = app.ledger.objects(r.id)
                if objects:
                    print(f"results of {r.id} (in the order they happened, UTC):")
                    for o in objects:
                        print(object_line(o))
        print_table([(r.id, r.environment, r.component, r.commit[:12], r.status, r.error or "") for r in recs],
                    ["deployment", "env", "component", "commit", "status", "error"])
    if any(r.status == "waiting_lock" for r in recs) and not as_json:
        print("another deployment holds the lock: the request waits in the queue for the worker")
    return 0 if all(r.status in ("succeeded", "waiting_lock", "waiting_approval", "waiting_window")
                    for r in recs) else 1


def _deploy(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _plan(args)
    if args.force and not (args.reason or "").strip():
        raise BadRequest("--force needs --reason (recorded with the deployment)", code="reason_required")
    app = context(args)
    confirm_protected(args, app.config, args.env, f"deploy {args.component} to {args.env} now",
                      f"deploying to {args.env}")
    source = _source(app, args.repo)
    who = cli_principal(app.config, args.actor)
    outcomes = []
    view = _view(args)
    for component in _components(app, args.env, args.component):
        ref = args.ref or _default_ref(app, component)
        sha = source.resolve(ref)
        outcomes.append(_run_inline(app, source, env=args.env, component=component, sha=sha, ref=ref,
                                    trigger="manual", actor=who, force=args.force, reason=args.reason,
                                    view=view))
    return _report(app, outcomes, args.json, view)


def _rollback(args: argparse.Namespace) -> int:
    from ..release import Notifier, request_rollback

    app = context(args)
    app.config.environment(args.env)
    source = _source(app, args.repo)
    current = app.ledger.latest(args.env, component=args.component, status="succeeded")
    if current is None:
        raise NotFound(f"no successful {args.component} deployment of {args.env} to roll back",
                       code="nothing_to_roll_back")
    to = source.resolve(args.to) if args.to else None
    if args.dry_run:
        target = rollback_target(app.ledger, args.env, args.component, before=current)
        sha = to or (target.commit if target else None)
        if sha is None:
            raise NotFound(f"no successful {args.component} deployment of {args.env} before the current one",
                           code="nothing_to_roll_back")
        plan = _plan_one(app, source, args.env, args.component, sha)
        if args.json:
            print_json({"rollback_to": sha, "current": current.id, "plan": plan.to_json()})
        else:
            print(f"would roll {args.env}/{args.component} back to {sha[:12]}")
            print_plan(plan)
        return 0
    # The same entry point as POST /api/deployments/{id}/rollback: the same checks and records.
    who = require_verified(cli_principal(app.config, args.actor), "a rollback")
    rec = request_rollback(app.ledger, None, app.config, current.id, actor=who, to=to,
                           reason=getattr(args, "reason", None), emergency=args.emergency,
                           notifier=Notifier(app.config, app.settings, app.clock, app.ledger))
    view = _view(args)
    return _report(app, [_run_opened(app, source, rec, view)], args.json, view)
