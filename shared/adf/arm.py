"""Azure Resource Manager clients for an environment's factory.

The endpoint is configurable (``arm_endpoint``: sovereign clouds, or the local
HTTPS stand-in); so is the CA bundle (``REQUESTS_CA_BUNDLE``). Credentials: a
static bearer token from the app setting named by ``token_setting`` (local
stand-ins, CI), else azure-identity's DefaultAzureCredential (the managed
identity in Azure). The management SDKs are imported here, when used.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.datafactory import DataFactoryManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    from ..config import DataFactoryTarget


class StaticTokenCredential:
    """A TokenCredential over a fixed token (never logged)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, int(time.time()) + 3600)


def credential_for(target: DataFactoryTarget, settings: Settings) -> Any:
    if target.token_setting:
        token = settings.secret(target.token_setting)
        if not token:
            raise ConfigError([f"{target.token_setting}: app setting is not set (ARM token for "
                               f"{target.factory_name})"], "app settings")
        return StaticTokenCredential(token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def client_kwargs(target: DataFactoryTarget, settings: Settings) -> dict[str, Any]:
    endpoint = target.arm_endpoint.rstrip("/")
    kw: dict[str, Any] = {"base_url": endpoint,
                          "credential_scopes": ["https://management.azure.com/.default"
                                                if endpoint == "https://management.azure.com"
                                                else f"{endpoint}/.default"]}
    ca = settings.get("REQUESTS_CA_BUNDLE")
    if ca:
        kw["connection_verify"] = ca
    return kw


def factory_client(target: DataFactoryTarget, settings: Settings, credential: Any = None,
                   **extra: Any) -> DataFactoryManagementClient:
    from azure.mgmt.datafactory import DataFactoryManagementClient

    return DataFactoryManagementClient(credential or credential_for(target, settings), target.subscription_id,
                                       **{**client_kwargs(target, settings), **extra})


def resource_client(target: DataFactoryTarget, settings: Settings, credential: Any = None,
                    **extra: Any) -> ResourceManagementClient:
    from azure.mgmt.resource.resources import ResourceManagementClient

    return ResourceManagementClient(credential or credential_for(target, settings), target.subscription_id,
                                    **{**client_kwargs(target, settings), **extra})


def deployments_client(target: DataFactoryTarget, settings: Settings, credential: Any = None,
                       **extra: Any) -> Any:
    """ARM template deployments client (``azure.mgmt.resource.deployments`` in azure-mgmt-resource >= 24)."""
    from azure.mgmt.resource.deployments import DeploymentsMgmtClient

    return DeploymentsMgmtClient(credential or credential_for(target, settings), target.subscription_id,
                                 **{**client_kwargs(target, settings), **extra})
