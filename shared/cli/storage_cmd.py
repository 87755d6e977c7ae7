"""``dataops storage init``: provision the app's tables, queues and containers (honouring the prefix).

The app provisions them itself when it starts; a CLI run against an account the app never used (or
with a wrong ``DATAOPS_STORAGE_PREFIX``) says so in one line and points here. Provisioning is explicit
on purpose: creating tables under a mistyped prefix would silently split the history in two.
"""

from __future__ import annotations

import argparse

from ._common import context, print_json, print_table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("storage", help="the app's own storage account (tables, queues, containers)")
    s = p.add_subparsers(dest="storage_command", metavar="ACTION", required=True)
    i = s.add_parser("init", help="create every table, queue and container the app uses (idempotent)")
    i.set_defaults(handler=init)


def init(args: argparse.Namespace) -> int:
    storage = context(args).storage
    created = storage.provision()
    names = storage.names
    rows = [[kind, name, "created" if name in created else "exists"]
            for kind, group in (("table", names.tables()), ("queue", names.queues()),
                                ("container", names.containers())) for name in group]
    if args.json:
        print_json({"prefix": names.prefix, "resources": [{"kind": k, "name": n, "state": st} for k, n, st in rows]})
    else:
        print_table(rows, ["kind", "name", "state"])
        print(f"storage ready (prefix {names.prefix!r}): {len(created)} created, {len(rows) - len(created)} existed")
    return 0
