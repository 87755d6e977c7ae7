"""``dataops verify --env ENV [--component C] [--json]``: run an environment's checks now.

The same entry point as ``POST /api/environments/{env}/verify``
(:func:`shared.verify.service.verify_environment`). Exit 0 when every blocking check passed,
1 when one did not.
"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING

from . import _common

if TYPE_CHECKING:
    from ..deploy.components import ComponentRegistry


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers)
        return "cli"


def _verify(args: argparse.Namespace) -> int:
    from ..verify.service import verify_environment

    v = verify_environment(_common.context(args), args.env, args.component, actor=_actor())
    if args.json:
        _common.print_json(v.to_json())
    else:
        rows = [[r.name, r.kind, "yes" if r.blocking else "no", r.state, f"{r.duration_s:.1f}s", r.run_id or "",
                 r.error or r.output or ""] for r in v.results]
        if rows:
            _common.print_table(rows, ["check", "kind", "blocking", "state", "duration", "run", "note"])
        print(f"verification of {v.environment}: {'passed' if v.passed else 'failed'} ({v.summary()})")
    return 0 if v.passed else 1


def register(sub: argparse._SubParsersAction, components: ComponentRegistry) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("verify", help="run an environment's verification checks against what is deployed",
                       description="Run the verify: checks of an environment now (those of one component with "
                                   "--component); exit 1 when a blocking check did not pass.")
    p.add_argument("--env", required=True, metavar="ENV")
    p.add_argument("--component", choices=list(components.names()), help="only the checks on this component")
    _common.add_json(p)
    p.set_defaults(handler=_verify)
