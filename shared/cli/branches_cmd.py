"""``dataops branches list [--state S] [--branch NAME]``: the branch workspaces (same as ``GET /api/branches``).

The deployments of one branch: ``dataops audit list --component notebooks --branch NAME``.
"""

from __future__ import annotations

import argparse

from . import _common


def _list(args: argparse.Namespace) -> int:
    from ..branches.listing import BranchQuery, list_branches

    params = {k: v for k, v in (("state", args.state), ("branch", args.branch)) if v}
    items = list_branches(_common.context(args), BranchQuery.parse(params))
    if args.json:
        _common.print_json({"items": items, "count": len(items)})
        return 0
    rows = [[i["branch"], i["state"], i["folder"] or "-", i["owner"] or "-",
             i["last_sync"]["at"] or "-", i["last_sync"]["status"] or "-",
             f"{round(i.get('age_seconds', 0) / 86400, 1)}d"] for i in items]
    _common.print_table(rows, ["branch", "state", "folder", "owner", "last sync", "status", "age"])
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("branches", help="branch workspaces: a Databricks folder per feature branch")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = verbs.add_parser("list", help="the branch workspaces, newest push first")
    ls.add_argument("--state", choices=["active", "removing", "removed", "all"],
                    help="default: the ones not removed")
    ls.add_argument("--branch", metavar="NAME", help="one branch")
    _common.add_json(ls)
    ls.set_defaults(handler=_list)
