"""Entry points shared by the HTTP handlers, the timer function and the CLI (so all behave the same)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadRequest
from .control import EnvironmentControl

if TYPE_CHECKING:
    from ..app import AppContext
    from .timer import ScheduleTimer

# A person waiting on an HTTP answer or a terminal waits this long for a running deployment.
MANUAL_LOCK_TIMEOUT = 30.0
ACTIONS = ("start", "stop")


def environment_control(ctx: AppContext, name: str, **options: Any) -> EnvironmentControl:
    """The control of environment ``name`` (404 ``unknown_environment`` when it is not configured)."""
    environment = ctx.config.environment(name)
    bound = min([t.max_parallel for t in (environment.data_factory, environment.databricks) if t] or [16])
    kw: dict[str, Any] = {"max_parallel": bound, "lock_timeout": MANUAL_LOCK_TIMEOUT, **options}
    return EnvironmentControl(name, environment, settings=ctx.settings, storage=ctx.storage, ledger=ctx.ledger,
                              clock=ctx.clock, **kw)


def schedule_timer(ctx: AppContext, **options: Any) -> ScheduleTimer:
    from .timer import ScheduleTimer

    return ScheduleTimer(ctx.config, settings=ctx.settings, storage=ctx.storage, ledger=ctx.ledger,
                         clock=ctx.clock, **options)


def check_action(action: str) -> str:
    if action not in ACTIONS:
        raise BadRequest(f"action must be start or stop, not {action!r}", code="invalid_action")
    return action


def parse_flag(value: str | None, name: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no) from a query string; anything else is a 400."""
    if value is None or value == "":
        return False
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, not {value!r}", code="invalid_parameter")
