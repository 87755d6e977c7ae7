"""Pytest fixtures for the ARM + Data Factory stand-in.

``arm_ca`` is one trustme certificate authority per test session (per xdist worker): generating
keys is the slow part. ``arm_standin`` is a fresh HTTPS server per test on a free port.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .arm import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION, ArmStandIn, server_ssl_context

ARM_TOKEN_SETTING = "ARM_STANDIN_TOKEN"


@dataclass(frozen=True)
class ArmCA:
    """The session's certificate authority and its PEM bundle on disk."""

    ca: Any
    bundle: Path


class ArmStandInHandle:
    """What tests get from ``arm_standin``: the server plus config/settings builders."""

    def __init__(self, standin: ArmStandIn, ca: ArmCA) -> None:
        self.standin = standin
        self.url = standin.url
        self.ca_bundle = str(ca.bundle)
        self.token = standin.token
        self.subscription_id = DEFAULT_SUBSCRIPTION
        self.resource_group = DEFAULT_RESOURCE_GROUP

    def __getattr__(self, name: str) -> Any:
        # faults, counters, create_factory, put_object, get_object, names, set_trigger_state,
        # trigger_state, fail_object, fail_deployment, deployments, store ...
        return getattr(self.standin, name)

    def target(self, factory_name: str, **overrides: Any) -> Any:
        """A ``shared.config.DataFactoryTarget`` pointing at this stand-in."""
        from shared.config import DataFactoryTarget

        fields: dict[str, Any] = {"subscription_id": self.subscription_id,
                                  "resource_group": self.resource_group,
                                  "factory_name": factory_name, "arm_endpoint": self.url,
                                  "token_setting": ARM_TOKEN_SETTING}
        fields.update(overrides)
        return DataFactoryTarget(**fields)

    def settings(self, extra: dict[str, str] | None = None) -> Any:
        """``shared.settings.Settings`` holding the token and ``REQUESTS_CA_BUNDLE``."""
        from shared.settings import Settings

        env = {ARM_TOKEN_SETTING: self.token, "REQUESTS_CA_BUNDLE": self.ca_bundle}
        env.update(extra or {})
        return Settings(env)

    def factory_client(self, factory_name: str = "f", **extra: Any) -> Any:
        """azure-mgmt-datafactory client through the product's builder (fast polling)."""
        from shared.adf.arm import factory_client

        return factory_client(self.target(factory_name), self.settings(), **extra)

    def deployments_client(self, **extra: Any) -> Any:
        """azure-mgmt-resource-deployments client configured like the product's builders."""
        from azure.mgmt.resource.deployments import DeploymentsMgmtClient

        from shared.adf.arm import client_kwargs, credential_for

        target, settings = self.target("f"), self.settings()
        return DeploymentsMgmtClient(credential_for(target, settings), target.subscription_id,
                                     **{**client_kwargs(target, settings), **extra})


@pytest.fixture(scope="session")
def arm_ca(tmp_path_factory: pytest.TempPathFactory) -> ArmCA:
    import trustme

    ca = trustme.CA()
    path = tmp_path_factory.mktemp("arm-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ArmCA(ca, path)


@pytest.fixture
def arm_standin(arm_ca: ArmCA) -> Iterator[ArmStandInHandle]:
    """A fresh ARM + Data Factory stand-in over HTTPS on a free port (fast transitions)."""
    standin = ArmStandIn(token="arm-" + secrets.token_urlsafe(16),
                         ssl_context=server_ssl_context(arm_ca.ca, ["127.0.0.1", "localhost"]),
                         transition_s=0.2, deploy_delay_s=0.1, poll_ms=20)
    standin.start()
    try:
        yield ArmStandInHandle(standin, arm_ca)
    finally:
        standin.stop()


@pytest.fixture
def arm_factory_name() -> str:
    """A unique factory name (ADF names: letters, digits, hyphens)."""
    return "adf-" + uuid.uuid4().hex[:10]
