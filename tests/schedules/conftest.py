"""Wiring for the schedule tests: an EnvironmentControl over the stand-ins, Azurite and a FakeClock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.config import Environment
from shared.schedules.control import EnvironmentControl
from shared.settings import Settings
from shared.storage import StorageAccount

MakeControl = Callable[..., EnvironmentControl]


@pytest.fixture
def make_control(storage: StorageAccount, ledger: AuditLedger, clock: FakeClock) -> MakeControl:
    """``make_control(environment, settings, name="dev", **options)``."""

    def make(environment: Environment, settings: Settings, name: str = "dev", **kw: Any) -> EnvironmentControl:
        options: dict[str, Any] = {"max_parallel": 8, "retry_delay": 0.5, "lock_timeout": 5.0, **kw}
        return EnvironmentControl(name, environment, settings=settings, storage=storage, ledger=ledger,
                                  clock=clock, **options)

    return make
