"""``dataops``: the command line (SPEC section 4).

Each command group lives in its own module with a ``register(subparsers)``
function; handlers return an exit code. Errors a user can cause print a
message and exit non-zero, never a stack trace: exit 2 for the caller's
mistake (invalid input, not found, conflict, ...), 3 when a dependency or
target failed (try again later). Exit codes are decided here only.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import sys
from typing import TYPE_CHECKING

from ..errors import (
    ConfigError,
    Conflict,
    DataOpsError,
    Forbidden,
    InvalidInput,
    NotFound,
    TargetFailed,
    Unauthorized,
    Unavailable,
    unreachable,
)

if TYPE_CHECKING:
    from ..deploy.components import ComponentRegistry

# Command-group modules, in help order.
GROUPS = ("config_cmd", "deploy_cmd", "release_cmd", "env_cmd", "audit_cmd", "local_cmd", "adf_cmd", "verify_cmd")
EXIT_USAGE = 2  # the caller's mistake
EXIT_UNAVAILABLE = 3  # a dependency or target failed: try again later


EXIT_BY_KIND: dict[type[DataOpsError], int] = {
    InvalidInput: EXIT_USAGE, Unauthorized: EXIT_USAGE, Forbidden: EXIT_USAGE, NotFound: EXIT_USAGE,
    Conflict: EXIT_USAGE, TargetFailed: EXIT_UNAVAILABLE, Unavailable: EXIT_UNAVAILABLE,
}


def exit_code(err: DataOpsError) -> int:
    """The one place an error kind becomes an exit code (the most specific kind in the class's MRO wins)."""
    return next((EXIT_BY_KIND[c] for c in type(err).__mro__ if c in EXIT_BY_KIND), EXIT_USAGE)


def build_parser(components: ComponentRegistry | None = None) -> argparse.ArgumentParser:
    """The parser; ``--component`` choices come from ``components`` (default: the product's registry)."""
    from ..deploy.components import COMPONENTS

    components = components or COMPONENTS
    parser = argparse.ArgumentParser(
        prog="dataops", description="GitOps deployer for an Azure data platform (Data Factory + Databricks).")
    parser.add_argument("--config", metavar="PATH",
                        help="platform configuration (default: $DATAOPS_CONFIG, else infra/environments.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.set_defaults(components=components)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        module = f"{__name__}.{name}" if "." not in name else f"{__package__.rpartition('.')[0]}.{name}"
        register = importlib.import_module(module).register
        if "components" in inspect.signature(register).parameters:  # groups with --component choices
            register(sub, components)
        else:
            register(sub)
    return parser


def main(argv: list[str] | None = None, *, components: ComponentRegistry | None = None) -> int:
    """Run one command; ``components`` replaces the product's component registry (tests)."""
    parser = build_parser(components)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as err:
        print(f"dataops: {err.message}", file=sys.stderr)
        return exit_code(err)
    except DataOpsError as err:
        print(f"dataops: {err.code}: {err.message}", file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        down = unreachable(exc)
        if down is None:
            raise
        print(f"dataops: {down.code}: {down.message}", file=sys.stderr)
        return exit_code(down)


if __name__ == "__main__":
    sys.exit(main())
