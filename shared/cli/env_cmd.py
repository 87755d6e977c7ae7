"""``dataops env start|stop|status ENV`` and ``dataops triggers list|start|stop ENV [NAME ...]``.

The same entry points as the HTTP handlers (:mod:`shared.schedules.service`):
the same locks, plan, retries and audit records.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import progress
from ..errors import BadRequest
from . import _common
from ._toggle_progress import LiveToggle


def _actor(args: argparse.Namespace, config: Any) -> str:
    """The Azure sign-in, else ``cli:<os user>``; ``--actor`` only with ``security.local_identities``."""
    from ..identity import cli_principal

    return cli_principal(config, args.actor).name


def _print_result(result: Any) -> None:
    data = result.to_json()
    head = "planned" if data["dry_run"] else data["status"]
    print(f"{data['action']} {data['environment']}: {head}")
    rows: list[list[Any]] = []
    if data["dry_run"]:
        rows = [[c["type"], c["name"], c["state"], c["action"], ""] for c in data["plan"]["changes"]]
    else:
        rows = [[o["type"], o["name"], "", o["status"], o.get("error") or ""] for o in data["outcomes"]]
    rows += [[x["type"], x["name"], "", "left alone", x["reason"]] for x in data["plan"]["left_alone"]]
    if rows:
        _common.print_table(rows, ["type", "name", "state", "outcome", "note"])
    for problem in data["plan"]["problems"]:
        print(f"problem: {problem}")


@contextmanager
def _watching(args: argparse.Namespace) -> Iterator[LiveToggle]:
    """Per-resource progress: lines as it goes at a terminal, in order at the end elsewhere, none for --json."""
    view = LiveToggle(live=_common.is_tty())
    if args.json or args.dry_run:
        yield view
        return
    with progress.watching(view):
        yield view


def _env(args: argparse.Namespace) -> int:
    from ..schedules.service import environment_control

    app = _common.context(args)
    control = environment_control(app, args.env)
    if args.verb == "status":
        status = control.status()
        if args.json:
            _common.print_json(status)
            return 3 if status.get("unavailable") else 0
        rows = [[t, r["name"], r["state"], "yes" if r["running"] else ""]
                for t, rs in status["resources"].items() for r in rs]
        _common.print_table(rows, ["type", "name", "state", "running"])
        if status["stopped"] and status["stopped"]["pending_restore"]:
            print(f"stopped by {status['stopped']['actor']} at {status['stopped']['at']}: "
                  f"{len(status['stopped']['pending_restore'])} to restore on start")
        for problem in status["problems"]:
            print(f"problem: {problem}")
        deployed = [[c, (d["commit"] or "")[:12], d["deployment_id"], d.get("ended_at") or d["at"],
                     f"{d.get('actor') or ''}{'' if d.get('actor_verified', True) else ' (unverified)'}"]
                    if d else [c, "-", "", "", ""] for c, d in status.get("deployed", {}).items()]
        if deployed:
            print("\ndeployed")
            _common.print_table(deployed, ["component", "commit", "deployment", "at", "actor"])
        return 3 if status.get("unavailable") else 0  # a service out of reach: the table is incomplete
    if args.verb == "stop" and not args.dry_run:
        _common.confirm_protected(args, app.config, args.env, f"stop every trigger, cluster, warehouse and "
                                  f"job schedule of {args.env}", f"stopping {args.env}")
    actor = _actor(args, app.config)
    with _watching(args) as view:
        result = control.run(args.verb, actor=actor, reason=args.reason, dry_run=args.dry_run, trigger="manual")
    if args.json:
        _common.print_json(result.to_json())
    else:
        view.report()
        _print_result(result)
    return 0 if result.status in ("planned", "succeeded") else 1


def _triggers(args: argparse.Namespace) -> int:
    from ..schedules.service import environment_control

    ctx = _common.context(args)
    control = environment_control(ctx, args.env)
    if args.verb == "list":
        items = [r for r in control.list_triggers() if not args.names or r.name in args.names]
        if args.json:
            _common.print_json([r.to_json() for r in items])
        else:
            _common.print_table([[r.name, r.state] for r in items], ["trigger", "state"])
        return 0
    if not args.names:
        raise BadRequest(f"name the triggers to {args.verb}", code="missing_trigger")
    actor = _actor(args, ctx.config)
    with _watching(args) as view:
        results = [control.toggle_trigger(name, args.verb, actor=actor, reason=args.reason, dry_run=args.dry_run)
                   for name in args.names]
    if args.json:
        _common.print_json([r.to_json() for r in results])
    else:
        view.report()
        for r in results:
            _print_result(r)
    return 0 if all(r.status in ("planned", "succeeded") for r in results) else 1


def _common_flags(p: argparse.ArgumentParser) -> None:
    _common.add_dry_run(p)
    _common.add_yes(p)
    _common.add_json(p)
    p.add_argument("--actor", help="who is acting (default: cli:<login name>)")
    p.add_argument("--reason", help="why (recorded in the audit)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    env = sub.add_parser("env", help="stop, start or inspect a whole environment now",
                         description="Stop/start an environment (ADF triggers, interactive clusters, SQL "
                                     "warehouses, job schedules); start restores exactly what the stop stopped.")
    env.add_argument("verb", choices=["start", "stop", "status"])
    env.add_argument("env", metavar="ENV")
    _common_flags(env)
    env.set_defaults(handler=_env)

    trig = sub.add_parser("triggers", help="list, start or stop ADF triggers of an environment")
    trig.add_argument("verb", choices=["list", "start", "stop"])
    trig.add_argument("env", metavar="ENV")
    trig.add_argument("names", metavar="NAME", nargs="*", help="trigger names")
    _common_flags(trig)
    trig.set_defaults(handler=_triggers)
