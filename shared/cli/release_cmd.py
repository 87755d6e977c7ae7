"""``dataops approve ID`` and ``dataops reject ID`` (``dataops rollback`` lives in deploy_cmd).

The same entry points as the HTTP handlers: the same checks (self-approval,
409 when not waiting), the same audit records.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..deploy.queue import DeploymentQueue
from ..identity import Principal, cli_principal, require_verified
from ..release import after_end_hooks, decide
from . import _common


def _actor(args: argparse.Namespace, ctx: Any) -> Principal:
    """A verified identity: the Azure sign-in, or ``--actor`` where local identities are allowed."""
    return require_verified(cli_principal(ctx.config, getattr(args, "actor", None)), "approving or rejecting")


def _print(rec: Any, args: argparse.Namespace, verb: str) -> None:
    if args.json:
        _common.print_json(rec.to_json(include_plan=False))
    else:
        print(f"{rec.id}: {verb} -> {rec.status} ({rec.environment} {rec.component} {rec.commit[:12]})")


def _decide(args: argparse.Namespace, approve: bool) -> int:
    ctx = _common.context(args)
    queue = DeploymentQueue(ctx.storage)
    rec = decide(ctx.ledger, queue, ctx.config, args.deployment_id, approve=approve, actor=_actor(args, ctx),
                 reason=args.reason,
                 after_end=after_end_hooks(ctx.config, ctx.storage, ctx.ledger, ctx.settings, ctx.clock, queue))
    _print(rec, args, "approved" if approve else "rejected")
    return 0


def register(sub: Any) -> None:
    """Add ``approve`` and ``reject``."""
    for name, approve, text in (("approve", True, "release a deployment waiting for approval"),
                                ("reject", False, "refuse a deployment waiting for approval")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("deployment_id", metavar="DEPLOYMENT_ID")
        p.add_argument("--actor", help="who decides (only with security.local_identities: true; "
                                       "default: the signed-in Azure identity)")
        p.add_argument("--reason", help="why (recorded)")
        _common.add_json(p)
        p.set_defaults(handler=lambda a, _approve=approve: _decide(a, _approve))

