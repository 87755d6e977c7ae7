"""``dataops``: the command line (SPEC section 4).

Each command group lives in its own module with a ``register(subparsers)``
function; handlers return an exit code. Errors a user can cause print a
message and exit non-zero, never a stack trace.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import ConfigError, DataOpsError, unreachable

# Command-group modules, in help order.
GROUPS = ("config_cmd", "deploy_cmd", "release_cmd", "env_cmd", "audit_cmd", "local_cmd", "adf_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dataops", description="GitOps deployer for an Azure data platform (Data Factory + Databricks).")
    parser.add_argument("--config", metavar="PATH",
                        help="platform configuration (default: $DATAOPS_CONFIG, else infra/environments.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        module = f"{__name__}.{name}" if "." not in name else f"{__package__.rpartition('.')[0]}.{name}"
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as err:
        print(f"dataops: {err.message}", file=sys.stderr)
        return 2
    except DataOpsError as err:
        print(f"dataops: {err.code}: {err.message}", file=sys.stderr)
        return 2 if err.status < 500 else 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        down = unreachable(exc)
        if down is None:
            raise
        print(f"dataops: {down.code}: {down.message}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
