"""Release flow: promotion, approvals, one-way decisions, rollback, deployment windows, notifications.

Two builders plug it into the :class:`~shared.deploy.orchestrator.Orchestrator`
(the worker and the CLI build theirs the same way)::

    Orchestrator(config, storage, ledger, settings, clock, queue,
                 gates=gates(config, settings, clock),
                 after_end=after_end_hooks(config, storage, ledger, settings, clock, queue))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..audit.ledger import AuditLedger
from ..audit.records import DeploymentRecord
from ..clock import Clock
from ..config import PlatformConfig
from ..deploy.orchestrator import AfterEnd, Gate, GateInput, Hold, Orchestrator
from ..deploy.queue import DeploymentQueue
from ..settings import Settings
from ..storage import StorageAccount
from .approvals import approval_gate, decide
from .notify import Notifier
from .promotion import promote, promotion_hook, requires_gate
from .rollback import auto_rollback_hook, mark_rolled_back_hook, request_rollback
from .windows import DEFAULT_RECHECK_CAP, window_gate, window_state

if TYPE_CHECKING:
    from ..app import AppContext

__all__ = ["Notifier", "after_end_hooks", "decide", "gates", "notify_hook", "promote", "release_orchestrator", "request_rollback",
           "window_state"]


def gates(config: PlatformConfig, settings: Settings, clock: Clock, *,
          window_recheck_cap: int = DEFAULT_RECHECK_CAP, notifier: Notifier | None = None) -> list[Gate]:
    """The release gates in order: ``requires``, approval (and protected deletes), then deployment windows.

    Approval comes first so a person can approve at any time and the deployment then waits for
    its window, not the other way round.
    """
    base = notifier or Notifier(config, settings, clock)

    def approval(g: GateInput) -> Hold | None:
        # Deliveries are recorded in the ledger the orchestrator runs with.
        n = base if base.ledger is not None else dataclasses.replace(base, ledger=g.ledger)
        return approval_gate(n)(g)

    return [requires_gate(), approval, window_gate(clock, recheck_cap=window_recheck_cap)]


def notify_hook(notifier: Notifier) -> AfterEnd:
    """Notify the environment's subscribers of a final status (``succeeded``, ``failed``, ...)."""

    def hook(rec: DeploymentRecord) -> None:
        notifier.notify(rec, rec.status, rec.error)

    return hook


def after_end_hooks(config: PlatformConfig, storage: StorageAccount, ledger: AuditLedger, settings: Settings,
                    clock: Clock, queue: DeploymentQueue | None = None, *,
                    notifier: Notifier | None = None) -> list[AfterEnd]:
    """Hooks run once a deployment ended: mark what a rollback undid, notify, promote, roll back.

    (The metrics rollup is kept by :func:`~shared.deploy.lifecycle.finish_deployment` itself.)
    """
    q = queue or DeploymentQueue(storage)
    n = notifier or Notifier(config, settings, clock, ledger)
    from ..adf.stranded import stranded_hook

    hooks: list[Callable[[DeploymentRecord], None]] = [
        mark_rolled_back_hook(ledger, n), notify_hook(n), stranded_hook(ledger, n), promotion_hook(config, ledger, q),
        auto_rollback_hook(config, ledger, q)]
    return hooks


def release_orchestrator(app: AppContext, **kwargs: Any) -> Orchestrator:
    """The Orchestrator the worker and the CLI run: the app's wiring plus the release gates and hooks."""
    queue = kwargs.pop("queue", None) or DeploymentQueue(app.storage)
    kwargs.setdefault("components", app.components)
    if "verify" not in kwargs:
        from ..verify.gate import VerifyStep

        kwargs["verify"] = VerifyStep()
    return Orchestrator(app.config, app.storage, app.ledger, app.settings, app.clock, queue=queue,
                        gates=gates(app.config, app.settings, app.clock),
                        after_end=after_end_hooks(app.config, app.storage, app.ledger, app.settings,
                                                  app.clock, queue),
                        **kwargs)
