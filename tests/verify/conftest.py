"""Fixtures of the verification tests: the Databricks and ARM stand-ins, an HTTP target, a config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from devhost.standins.databricks import TOKEN_SETTING, DatabricksStandIn
from devhost.standins.httpbase import Request, Response, StandInServer, json_response
from shared.config import PlatformConfig, parse_config
from shared.settings import Settings
from shared.verify.checks import VerifyRuntime
from shared.verify.runner import Verifier
from tests import polling
from tests.fixtures.arm import ARM_TOKEN_SETTING, ArmStandInHandle

TARGET_DIR = "/Shared/test/platform"
POLL = 0.01  # seconds between looks at a run: small, so tests wait only for the scripted durations


@dataclass
class HttpTarget:
    """An HTTP endpoint answering ``status`` on /health (the URL lives in an app setting)."""

    server: StandInServer
    status: list[int] = field(default_factory=lambda: [200])
    received: list[Any] = field(default_factory=list)  # bodies POSTed to /notify (notifications)

    @property
    def url(self) -> str:
        return f"{self.server.url}/health?code=s3cr3t-key"


@pytest.fixture
def http_target() -> Iterator[HttpTarget]:
    server = StandInServer(name="health")
    target = HttpTarget(server)

    def health(req: Request) -> Response:
        return json_response({"ok": target.status[0] < 400}, target.status[0])

    def notify(req: Request) -> Response:
        target.received.append(req.json())
        return json_response({})

    server.add_route("GET", r"/health", health, "health")
    server.add_route("POST", r"/notify", notify, "notify")
    server.start()
    try:
        yield target
    finally:
        server.stop()


@dataclass
class Platform:
    """Stand-ins plus what the product needs to reach them."""

    dbx: DatabricksStandIn
    arm: ArmStandInHandle
    http: HttpTarget
    factory: str

    def settings(self, extra: dict[str, str] | None = None) -> Settings:
        return Settings({TOKEN_SETTING: self.dbx.token, ARM_TOKEN_SETTING: self.arm.token,
                         "REQUESTS_CA_BUNDLE": self.arm.ca_bundle, "HEALTH_URL": self.http.url,
                         "NOTIFY_URL": f"{self.http.server.url}/notify", **(extra or {})})

    def environment(self, checks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"databricks": {"host": self.dbx.url, "token_setting": TOKEN_SETTING, "target_dir": TARGET_DIR},
                "data_factory": {"subscription_id": self.arm.subscription_id,
                                 "resource_group": self.arm.resource_group, "factory_name": self.factory,
                                 "arm_endpoint": self.arm.url, "token_setting": ARM_TOKEN_SETTING},
                "verify": checks, **extra}

    def config(self, checks: list[dict[str, Any]], **extra: Any) -> PlatformConfig:
        return parse_config({"repository": {"provider": "local", "url": "https://example.invalid/p"},
                             "environments": {"test": self.environment(checks, **extra)},
                             "verification": {"poll_interval": POLL}})


@pytest.fixture
def platform(arm_standin: ArmStandInHandle, arm_factory_name: str, http_target: HttpTarget) -> Iterator[Platform]:
    dbx = DatabricksStandIn(run_s=0.05, delay_s=0.05).start()
    arm_standin.create_factory(arm_factory_name)
    try:
        yield Platform(dbx, arm_standin, http_target, arm_factory_name)
    finally:
        dbx.stop()


@pytest.fixture
def verifier() -> Verifier:
    return Verifier(runtime=lambda config: VerifyRuntime(poll_interval=POLL))


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until truthy (no fixed sleeps), failing after ``timeout`` seconds."""
    return polling.wait_until(predicate, timeout, interval=0.01)
