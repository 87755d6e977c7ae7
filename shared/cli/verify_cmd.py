"""``dataops verify --env ENV [--component C] [--api URL] [--json]``: run an environment's checks now.

Without ``--api`` the checks run here, through the same entry point as the worker
(:func:`shared.verify.service.verify_environment`). With ``--api`` the deployed app runs them:
``POST /api/environments/{env}/verify`` answers 202 with a ``Location``, which the command follows
(:mod:`shared.verify.remote`) until the result. Exit 0 when every blocking check passed, 1 when one did not.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from typing import TYPE_CHECKING, Any

from . import _common

if TYPE_CHECKING:
    from ..deploy.components import ComponentRegistry

log = logging.getLogger("dataops.cli")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers)
        return "cli"


def _remote(args: argparse.Namespace) -> dict[str, Any]:
    from ..verify.remote import RemoteVerify, headers_from

    def seen(status: dict[str, Any]) -> None:
        log.info("verification %s of %s: %s", status.get("id"), status.get("environment"), status.get("status"))

    client = RemoteVerify(args.api, headers_from(os.environ), max_wait=args.max_wait)
    return client.run(args.env, args.component, on_status=seen)


def _verify(args: argparse.Namespace) -> int:
    if args.api:
        result = _remote(args)
    else:
        from ..verify.service import verify_environment

        result = verify_environment(_common.context(args), args.env, args.component, actor=_actor()).to_json()
    passed = result.get("status") == "passed"
    if args.json:
        _common.print_json(result)
    else:
        rows = [[c["name"], c["kind"], "yes" if c["blocking"] else "no", c["state"], f"{c['duration_s']:.1f}s",
                 c.get("run_id") or "", c.get("error") or c.get("output") or ""] for c in result.get("checks", [])]
        if rows:
            _common.print_table(rows, ["check", "kind", "blocking", "state", "duration", "run", "note"])
        if result.get("error"):
            print(f"error: {result['error']}")
        print(f"verification of {result['environment']}: {'passed' if passed else 'failed'} "
              f"({result.get('summary')})")
    return 0 if passed else 1


def register(sub: argparse._SubParsersAction, components: ComponentRegistry) -> None:  # type: ignore[type-arg]
    from ..verify.remote import MAX_WAIT

    p = sub.add_parser("verify", help="run an environment's verification checks against what is deployed",
                       description="Run the verify: checks of an environment now (those of one component with "
                                   "--component); exit 1 when a blocking check did not pass. With --api the "
                                   "deployed app runs them and the command follows the verification's status.")
    p.add_argument("--env", required=True, metavar="ENV")
    p.add_argument("--component", choices=list(components.names()), help="only the checks on this component")
    p.add_argument("--api", metavar="URL",
                   help="the app's API base (https://<app>.azurewebsites.net/api, or $DATAOPS_API locally): "
                        "the app runs the checks; function key from DATAOPS_FUNCTION_KEY, sign-in token for "
                        "DATAOPS_API_SCOPE")
    p.add_argument("--max-wait", type=float, default=MAX_WAIT, metavar="SECONDS",
                   help=f"with --api: how long to follow the verification (default {MAX_WAIT:.0f}); it goes on "
                        "running after that (exit 3 with its status URL)")
    _common.add_json(p)
    p.set_defaults(handler=_verify)
