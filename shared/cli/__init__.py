"""``dataops``: the command line (SPEC section 4).

Each command group lives in its own module ``shared/cli/<name>_cmd.py`` with a
``register(subparsers)`` function (``register(subparsers, components)`` when it
needs the component names), listed in :data:`GROUPS`; handlers return an exit code.

Global options (``--config``, ``-o/--output``, ``--json``, ``-v``, ``--debug``) are
added here to every command, so they work before or after the subcommand; a module
never defines them. Errors a user can cause print one line and exit non-zero, never
a stack trace. Exit codes are decided here only:

* 0: success
* 1: a deployment or resource failed, or changes were found where asked (``plan --exit-code``)
* 2: the caller's mistake (invalid input, not found, conflict, not confirmed, ...)
* 3: unavailable: a dependency or target failed or is not set up (try again / fix the setup)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

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

# Command-group modules, in help order. A new group: add its module name here.
GROUPS = ("config_cmd", "deploy_cmd", "release_cmd", "env_cmd", "audit_cmd", "storage_cmd", "local_cmd",
          "adf_cmd", "verify_cmd", "completion_cmd", "branches_cmd")
EXIT_OK = 0
EXIT_FAILED = 1  # a deployment or resource failed; changes found with plan --exit-code
EXIT_USAGE = 2  # the caller's mistake
EXIT_UNAVAILABLE = 3  # a dependency or target failed: try again later
OUTPUTS = ("table", "json", "yaml")
# Loggers of the product itself (-v); everything else (SDKs, urllib3) only with --debug.
PRODUCT_LOGGERS = ("shared", "dataops", "functions", "devhost")


EXIT_BY_KIND: dict[type[DataOpsError], int] = {
    InvalidInput: EXIT_USAGE, Unauthorized: EXIT_USAGE, Forbidden: EXIT_USAGE, NotFound: EXIT_USAGE,
    Conflict: EXIT_USAGE, TargetFailed: EXIT_UNAVAILABLE, Unavailable: EXIT_UNAVAILABLE,
}


def exit_code(err: DataOpsError) -> int:
    """The one place an error kind becomes an exit code (the most specific kind in the class's MRO wins)."""
    return next((EXIT_BY_KIND[c] for c in type(err).__mro__ if c in EXIT_BY_KIND), EXIT_USAGE)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dataops-deployer")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _add_globals(p: argparse.ArgumentParser, top: bool) -> None:
    """The global options; on subcommands their default is SUPPRESS so they never undo an earlier value."""
    d: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    have = p._option_string_actions
    opts: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (("--config",), {"metavar": "PATH", "help": "platform configuration (default: $DATAOPS_CONFIG, else "
                                                    "infra/environments.yaml)", **({"default": None} if top else d)}),
        (("-o", "--output"), {"choices": OUTPUTS, "help": "output format (default table)",
                              **({"default": None} if top else d)}),
        (("--json",), {"action": "store_true", "help": "print JSON (same as -o json)",
                       **({"default": False} if top else d)}),
        (("-v", "--verbose"), {"action": "store_true", "help": "log the product's own progress to stderr",
                               **({"default": False} if top else d)}),
        (("--debug",), {"action": "store_true", "help": "log everything, including SDK HTTP requests",
                        **({"default": False} if top else d)}),
    ]
    group = p.add_argument_group("global options")
    for flags, kw in opts:
        free = tuple(f for f in flags if f not in have)
        if free:
            group.add_argument(*free, **kw)


def _subparsers(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out: list[argparse.ArgumentParser] = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                out += [child, *_subparsers(child)]
    return out


def build_parser(components: ComponentRegistry | None = None) -> argparse.ArgumentParser:
    """The parser; ``--component`` choices come from ``components`` (default: the product's registry)."""
    from ..deploy.components import COMPONENTS

    components = components or COMPONENTS
    parser = argparse.ArgumentParser(
        prog="dataops", description="GitOps deployer for an Azure data platform (Data Factory + Databricks).",
        epilog="exit codes: 0 ok, 1 a deployment or resource failed (or changes found with plan --exit-code), "
               "2 the caller's mistake, 3 unavailable or not set up")
    parser.add_argument("--version", action="version", version=f"dataops {_version()}")
    _add_globals(parser, top=True)
    parser.set_defaults(components=components)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        register = importlib.import_module(f"{__name__}.{name}").register
        if "components" in inspect.signature(register).parameters:  # groups with --component choices
            register(sub, components)
        else:
            register(sub)
    for child in _subparsers(parser):
        _add_globals(child, top=False)
    return parser


def _logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.debug else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.verbose and not args.debug:
        for name in PRODUCT_LOGGERS:
            logging.getLogger(name).setLevel(logging.INFO)
    if not args.debug:  # the SDKs log every request's headers at INFO: only with --debug
        for name in ("azure", "urllib3", "databricks", "msal"):
            logging.getLogger(name).setLevel(logging.WARNING)


class _PipeSafe:
    """stdout that turns a closed pipe (``dataops plan --json | head -1``) into silence: later output goes
    to /dev/null and the command ends with its own exit code, without an error message."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.closed_pipe = False

    def _drop(self) -> None:
        self.closed_pipe = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # the interpreter's last flush then succeeds too
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if self.closed_pipe:
            return len(text)
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._drop()
            return len(text)

    def flush(self) -> None:
        if self.closed_pipe:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _normalise(args: argparse.Namespace) -> None:
    from . import _common

    args.output = args.output or ("json" if args.json else "table")
    args.json = args.output != "table"  # commands print structured data when True (JSON or YAML)
    _common.OUTPUT["format"] = args.output


def main(argv: list[str] | None = None, *, components: ComponentRegistry | None = None) -> int:
    """Run one command; ``components`` replaces the product's component registry (tests)."""
    parser = build_parser(components)
    args = parser.parse_args(argv)
    _normalise(args)
    _logging(args)
    out = sys.stdout = _PipeSafe(sys.stdout)  # type: ignore[assignment]
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
    except BrokenPipeError:  # the reader went away (| head): not an error of this command
        out._drop()
        return EXIT_OK
    except Exception as exc:
        from ..storage import not_provisioned

        down = not_provisioned(exc, _names()) or unreachable(exc)
        if down is None:
            raise
        print(f"dataops: {down.code}: {down.message}", file=sys.stderr)
        return exit_code(down)
    finally:
        out.flush()
        sys.stdout = out._stream


def _names() -> Any:
    from ..settings import Settings

    try:
        return Settings.from_env().names
    except DataOpsError:
        return None


if __name__ == "__main__":
    sys.exit(main())
