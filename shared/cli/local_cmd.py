"""``dataops local up``: the whole stack on this machine (SPEC section 9)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("local", help="run the whole product locally (Azurite, stand-ins, the app)")
    s = p.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    up = s.add_parser("up", help="start everything, deploy a sample push end to end, keep serving")
    up.add_argument("--once", action="store_true", help="exit when the sample deployment is done "
                    "(non-zero when a step failed)")
    up.add_argument("--fresh", action="store_true", help="start with empty storage (forget the history "
                    "kept in .local/azurite)")
    up.add_argument("--port-base", type=int, default=None, metavar="N",
                    help="host on N, stand-ins on N+1, N+2, Azurite on N+3..N+5 (default: 7071, 7081, 7443, "
                    "free ports; also DATAOPS_LOCAL_PORT_BASE)")
    up.set_defaults(handler=run_up)


def run_up(args: argparse.Namespace) -> int:
    # The local stack lives outside the product package (it starts stand-ins and the dev host), next to
    # it in the checkout: the console script finds it there from any directory.
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "devhost" / "localstack.py").exists() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    localstack = importlib.import_module("devhost.localstack")
    return int(localstack.up(once=args.once, fresh=args.fresh, port_base=args.port_base))
