"""Build a ``databricks.sdk.WorkspaceClient`` for an environment.

Auth: a PAT from the app setting named by ``token_setting``; without one, an
Entra ID token from azure-identity (managed identity in Azure) for the
Databricks resource, since the Python SDK has no managed-identity login of its
own. databricks-sdk is imported here, when a client is built, not at start-up.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..settings import Settings
from ..timeouts import timeouts_of
from . import calls as _calls

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from ..config import DatabricksTarget

# databricks-sdk fills Config's class-level attribute cache on first use by iterating the class
# __dict__ while another thread may be adding to it ("dictionary changed size during iteration"):
# an instance running several deployments at once builds its clients one at a time.
_BUILD = threading.Lock()
log = logging.getLogger(__name__)

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

    Timeouts (``timeouts.databricks``): every request waits at most ``connect`` seconds for a connection
    and ``read`` seconds for an answer. Retries belong to the caller (:mod:`.calls`: a clock that hands
    the SDK's retries back, then our pacer waits out 429s within ``throttle_budget_s`` and fails an
    unreachable host in seconds), so ``retry_timeout_seconds`` only bounds what the SDK does with its
    own clock: the host-metadata probe ``Config`` makes while it is built (best effort; we use no OAuth
    discovery), which would otherwise retry an unreachable host for minutes.
    """
    connect, read = timeouts_of(target).of("databricks")
    config.setdefault("http_timeout_seconds", read)
    config.setdefault("retry_timeout_seconds", 1)
    config.setdefault("clock", _calls.no_retry_clock())
    config["_connect_s"] = connect
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
    """Build the Config ourselves (WorkspaceClient takes only some options: not ``clock``, timeouts, pool
    sizes). The host-metadata probe made while it is built uses ``http_timeout_seconds`` for connecting and
    reading alike: built with the connect timeout, then set to the read timeout for the API client."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    connect = float(kwargs.pop("_connect_s"))
    read = float(kwargs["http_timeout_seconds"])
    pool = int(kwargs.get("max_connection_pools") or 20)
    with _BUILD:
        cfg = Config(**{**kwargs, "http_timeout_seconds": min(connect, read)})
        cfg.http_timeout_seconds = read
        client = WorkspaceClient(config=cfg)
    _bound_connect(client, connect, pool)
    return client


def _bound_connect(client: Any, connect_s: float, pool: int) -> None:
    """The SDK passes one timeout to requests (connect and read alike): mount adapters that split it
    into (connect, read), on https:// and on http:// (which the SDK leaves unpooled; the local
    stand-in is plain http). Best effort: private attributes of the SDK's API client."""
    import requests

    session = getattr(getattr(getattr(client, "api_client", None), "_api_client", None), "_session", None)
    if not isinstance(session, requests.Session):
        return

    class ConnectBounded(requests.adapters.HTTPAdapter):
        def send(self, request: Any, **kw: Any) -> Any:  # type: ignore[override]
            timeout = kw.get("timeout")
            if isinstance(timeout, int | float):
                kw["timeout"] = (min(connect_s, float(timeout)), float(timeout))
            return super().send(request, **kw)

    for scheme in ("https://", "http://"):
        session.mount(scheme, ConnectBounded(pool_connections=pool, pool_maxsize=pool, pool_block=True))


def _silence_probe_warning() -> None:
    """The failed host-metadata probe is logged as a WARNING by the SDK on every client built against a
    workspace (or stand-in) without the discovery endpoint; it changes nothing for us: keep it at DEBUG."""
    class Probe(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if record.getMessage().startswith("Failed to automatically resolve config from host metadata"):
                log.debug("%s", record.getMessage())
                return False
            return True

    logging.getLogger("databricks.sdk").addFilter(Probe())


_silence_probe_warning()
