"""Build a ``databricks.sdk.WorkspaceClient`` for an environment.

Auth: a PAT from the app setting named by ``token_setting``; without one, an
Entra ID token from azure-identity (managed identity in Azure) for the
Databricks resource, since the Python SDK has no managed-identity login of its
own. databricks-sdk is imported here, when a client is built, not at start-up.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..settings import Settings

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from ..config import DatabricksTarget

# databricks-sdk fills Config's class-level attribute cache on first use by iterating the class
# __dict__ while another thread may be adding to it ("dictionary changed size during iteration"):
# an instance running several deployments at once builds its clients one at a time.
_BUILD = threading.Lock()

# The AzureDatabricks first-party application id: the resource of Entra ID tokens for Databricks.
DATABRICKS_RESOURCE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"


def _entra_strategy(credential: Any) -> Any:
    from databricks.sdk.credentials_provider import CredentialsStrategy

    class EntraIdToken(CredentialsStrategy):
        def auth_type(self) -> str:
            return "azure-identity"

        def __call__(self, cfg: Any) -> Any:
            def headers() -> dict[str, str]:
                # azure-identity caches and refreshes the token itself.
                token = credential.get_token(f"{DATABRICKS_RESOURCE}/.default")
                return {"Authorization": f"Bearer {token.token}"}
            return headers

    return EntraIdToken()


def workspace_client(target: DatabricksTarget, settings: Settings, *, credential: Any = None,
                     **config: Any) -> WorkspaceClient:
    """A client for ``target``; extra ``config`` goes to ``databricks.sdk.core.Config``.

    The SDK's own retries (429 honouring Retry-After, 503) are bounded by time, not a count:
    ``retry_timeout_seconds`` is the target's ``throttle_budget_s`` (default 10 minutes).
    """
    config.setdefault("retry_timeout_seconds", max(1, int(target.throttle_budget_s)))
    if target.token_setting:
        token = settings.secret(target.token_setting)
        if not token:
            raise ConfigError([f"{target.token_setting}: app setting is not set (Databricks token for "
                               f"{target.host})"], "app settings")
        return _client(host=target.host, token=token, auth_type="pat", **config)
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return _client(host=target.host, credentials_strategy=_entra_strategy(credential), **config)


def _client(**kwargs: Any) -> WorkspaceClient:
    """WorkspaceClient takes only some Config options (not ``clock``, timeouts, pool sizes): build the
    Config ourselves when others are given."""
    import inspect

    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    accepted = inspect.signature(WorkspaceClient.__init__).parameters
    with _BUILD:
        if all(k in accepted for k in kwargs):
            return WorkspaceClient(**kwargs)
        return WorkspaceClient(config=Config(**kwargs))
