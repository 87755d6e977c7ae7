"""``dataops config validate`` and ``dataops config schema``."""

from __future__ import annotations

import argparse

from ..config import load_config
from ..errors import ConfigError
from ._common import print_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("config", help="check the platform configuration, print its schema")
    s = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    v = s.add_parser("validate", help="validate the configuration file; list every problem")
    v.set_defaults(handler=validate)
    sc = s.add_parser("schema", help="print the JSON Schema of the configuration file (docs/config.md)")
    sc.set_defaults(handler=schema)


def validate(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        if args.json:
            print_json({"valid": False, "problems": err.problems})
        else:
            print(err.message)
        return 2
    if args.json:
        print_json({"valid": True, "environments": list(cfg.environments)})
    else:
        print(f"configuration is valid: environments {', '.join(cfg.environments)}")
    return 0


def schema(args: argparse.Namespace) -> int:
    """The JSON Schema of :class:`shared.config.PlatformConfig` (JSON unless ``-o yaml``)."""
    from ..config import PlatformConfig

    print_json(PlatformConfig.model_json_schema())
    return 0
