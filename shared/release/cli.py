"""``dataops approve ID``, ``dataops reject ID`` (and ``dataops rollback`` for deploy_cmd to reuse).

The same entry points as the HTTP handlers: the same checks (self-approval,
409 when not waiting), the same audit records.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from ..cli import _common
from ..deploy.queue import DeploymentQueue
from ..errors import BadRequest
from . import after_end_hooks, decide, request_rollback


def _actor(args: argparse.Namespace) -> str:
    if getattr(args, "actor", None):
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers): still say it came from the CLI
        return "cli"


def _print(rec: Any, args: argparse.Namespace, verb: str) -> None:
    if args.json:
        _common.print_json(rec.to_json(include_plan=False))
    else:
        print(f"{rec.id}: {verb} -> {rec.status} ({rec.environment} {rec.component} {rec.commit[:12]})")


def _decide(args: argparse.Namespace, approve: bool) -> int:
    ctx = _common.context(args)
    queue = DeploymentQueue(ctx.storage)
    rec = decide(ctx.ledger, queue, ctx.config, args.deployment_id, approve=approve, actor=_actor(args),
                 reason=args.reason,
                 after_end=after_end_hooks(ctx.config, ctx.storage, ctx.ledger, ctx.settings, ctx.clock, queue))
    _print(rec, args, "approved" if approve else "rejected")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    ctx = _common.context(args)
    deployment_id = args.deployment_id
    if deployment_id is None:
        if not (args.env and args.component):
            raise BadRequest("give a DEPLOYMENT_ID, or --env and --component (roll back the latest deployment)",
                             code="missing_target")
        latest = ctx.ledger.latest(args.env, component=args.component)
        if latest is None:
            raise BadRequest(f"no {args.component} deployment in {args.env}", code="no_deployment")
        deployment_id = latest.id
    rec = request_rollback(ctx.ledger, DeploymentQueue(ctx.storage), ctx.config, deployment_id,
                           actor=_actor(args), to=args.to, reason=args.reason, force=args.force)
    _print(rec, args, "rollback queued")
    return 0


def register(sub: Any) -> None:
    """Add ``approve`` and ``reject``."""
    for name, approve, text in (("approve", True, "release a deployment waiting for approval"),
                                ("reject", False, "refuse a deployment waiting for approval")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("deployment_id", metavar="DEPLOYMENT_ID")
        p.add_argument("--actor", help="who decides (default: cli:<login name>)")
        p.add_argument("--reason", help="why (recorded)")
        _common.add_json(p)
        p.set_defaults(handler=lambda a, _approve=approve: _decide(a, _approve))


def register_rollback(sub: Any) -> None:
    """Add ``rollback`` (for deploy_cmd when it has none): by id, or the latest of --env/--component."""
    p = sub.add_parser("rollback", help="redeploy the last good commit (or --to SHA)")
    p.add_argument("deployment_id", metavar="DEPLOYMENT_ID", nargs="?")
    p.add_argument("--env")
    p.add_argument("--component", choices=["adf", "notebooks"])
    p.add_argument("--to", metavar="SHA", help="the commit to go back to")
    p.add_argument("--reason")
    p.add_argument("--force", action="store_true", help="deploy even outside a deployment window")
    p.add_argument("--actor")
    _common.add_json(p)
    p.set_defaults(handler=_rollback)
