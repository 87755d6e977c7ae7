"""Fixtures of the metrics tests: an app context on this test's Azurite storage, and the dev host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.app import AppContext, set_current
from shared.clock import FakeClock
from shared.config import PlatformConfig, parse_config
from shared.settings import Settings
from shared.storage import StorageAccount
from tests.fixtures.host import keyed
from tests.fixtures.identity import AUTH_ON, signed_in

from .history import NOW

OPS = "ops@contoso.example"  # who the HTTP tests are signed in as


def platform_config(attribution_days: int = 7, **metrics: Any) -> PlatformConfig:
    return parse_config({
        "repository": {"provider": "local", "url": "https://example.invalid/platform"},
        "environments": {"dev": {"deploy_on": ["push"]},
                         "test": {"deploy_on": ["promotion"], "requires": ["dev"]},
                         "prod": {"deploy_on": ["promotion"], "requires": ["test"]}},
        "metrics": {"incident_attribution_days": attribution_days, **metrics},
    })


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def app_ctx(storage: StorageAccount, clock: FakeClock) -> Iterator[AppContext]:
    ctx = AppContext(settings=Settings(AUTH_ON), clock=clock, _config=platform_config(), _storage=storage)
    set_current(ctx)
    try:
        yield ctx
    finally:
        set_current(None)


class Client:
    """Calls the registered HTTP functions through the dev host's dispatcher (the same routing as served)."""

    def __init__(self) -> None:
        from devhost.host import FunctionHost
        from function_app import app

        self.host = FunctionHost(app)

    def call(self, method: str, path: str, body: Any = None, *, as_user: str | None = OPS) -> tuple[int, Any]:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        who = signed_in(as_user) if as_user else {}
        status, headers, out = self.host.dispatch(method, f"http://localhost/api/{path}",
                                                  keyed(self.host, {"Content-Type": "application/json", **who}), data)
        ctype = headers.get("Content-Type", "")
        return status, json.loads(out) if ctype.startswith("application/json") else out.decode()


@pytest.fixture(scope="session")
def client() -> Client:
    return Client()
