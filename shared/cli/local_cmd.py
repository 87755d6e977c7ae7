"""``dataops local up``: the whole stack on this machine (SPEC section 9)."""

from __future__ import annotations

import argparse
import importlib


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("local", help="run the whole product locally (Azurite, stand-ins, the app)")
    s = p.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    up = s.add_parser("up", help="start everything, deploy a sample push end to end, keep serving")
    up.add_argument("--once", action="store_true", help="exit when the sample deployment is done "
                    "(non-zero when a step failed)")
    up.set_defaults(handler=run_up)


def run_up(args: argparse.Namespace) -> int:
    # The local stack lives outside the product package (it starts stand-ins and the dev host).
    localstack = importlib.import_module("devhost.localstack")
    return int(localstack.up(once=args.once))
