"""Function keys as the Azure Functions host keeps and checks them (docs/standin-host.md, "Function keys").

* **Where.** The host's secret repository: with ``AzureWebJobsStorage`` set (the default
  ``AzureWebJobsSecretStorageType=blob``), the container ``azure-webjobs-secrets``, blob
  ``<host id>/host.json`` for the host keys and ``<host id>/<function name, lowercase>.json`` for a
  function's keys. Missing secrets are generated on first use (host: a master key and a ``default``
  host key; a function: a ``default`` key) and written with ``If-None-Match: *``, so several
  instances on one account converge on one set (the loser of the race reads the winner's).
  Without storage the keys live in memory for the life of the host.
* **Values.** 40 random bytes, URL-safe base64 *with* its ``==`` padding (56 characters), as the
  host's ``SecretGenerator`` writes them (it also embeds the ``AzFu`` signature and a Marvin checksum,
  not reproduced: nothing checks them when authorising).
* **Check** (``AuthenticationLevelHandler``, ``SecretManager.GetAuthorizationLevelAsync``,
  ``AuthUtility.PrincipalHasAuthLevelClaim``): the key is the ``x-functions-key`` header if present
  (header names are case-insensitive), else the ``code`` query parameter (ASP.NET Core's query
  collection is case-insensitive: ``?CODE=`` too); the first value counts. The master key is level
  Admin, a system key System, a host key or a key of *this* function Function; values compare exactly
  (case-sensitive, constant time). ANONYMOUS needs nothing; FUNCTION needs level Function or Admin
  (a system key does not do); ADMIN needs the master key. Anything else is an empty ``401``.

``python -m devhost.keys`` prints the keys of the dev host on ``AzureWebJobsStorage`` (creating them
if the host has not yet), as ``az functionapp keys list`` shows them for an app in Azure.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

HEADER = "x-functions-key"
QUERY = "code"
SECRETS_CONTAINER = "azure-webjobs-secrets"
MASTER = "_master"  # the key name the host reports for the master key
DEFAULT = "default"
LEVELS = ("ANONYMOUS", "FUNCTION", "ADMIN")


def generate_key() -> str:
    """A key value as the host generates one: 40 bytes, URL-safe base64 with padding (56 characters)."""
    return base64.urlsafe_b64encode(os.urandom(40)).decode()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def presented_key(headers: Mapping[str, str], query: str) -> str | None:
    """The key a request presents: the ``x-functions-key`` header, else the ``code`` query parameter."""
    for name, value in headers.items():
        if name.lower() == HEADER:
            return value or None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() == QUERY:
            return value or None
    return None


class SecretStore(Protocol):
    def read(self, scope: str) -> dict[str, Any] | None: ...

    def write(self, scope: str, secrets: dict[str, Any]) -> None: ...

    def create(self, scope: str, secrets: dict[str, Any]) -> dict[str, Any]:
        """Write ``secrets`` unless there are some already; what is stored afterwards."""
        ...


@dataclass
class MemoryStore:
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, scope: str) -> dict[str, Any] | None:
        return self.data.get(scope)

    def write(self, scope: str, secrets: dict[str, Any]) -> None:
        with self.lock:
            self.data[scope] = secrets

    def create(self, scope: str, secrets: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self.data.setdefault(scope, secrets)


class BlobStore:
    """``azure-webjobs-secrets/<host id>/<scope>.json`` (the host's ``BlobStorageSecretsRepository``)."""

    def __init__(self, connection_string: str, host_id: str) -> None:
        self.connection_string, self.host_id = connection_string, host_id.lower()
        self._container: Any = None

    def _blob(self, scope: str) -> Any:
        if self._container is None:
            from azure.core.exceptions import ResourceExistsError
            from azure.storage.blob import BlobServiceClient

            container = BlobServiceClient.from_connection_string(self.connection_string).get_container_client(
                SECRETS_CONTAINER)
            try:
                container.create_container()
            except ResourceExistsError:
                pass
            self._container = container
        return self._container.get_blob_client(f"{self.host_id}/{scope.lower()}.json")

    def read(self, scope: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data: dict[str, Any] = json.loads(self._blob(scope).download_blob().readall())
            return data
        except ResourceNotFoundError:
            return None

    def write(self, scope: str, secrets: dict[str, Any]) -> None:
        self._blob(scope).upload_blob(json.dumps(secrets, indent=2).encode(), overwrite=True)

    def create(self, scope: str, secrets: dict[str, Any]) -> dict[str, Any]:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._blob(scope).upload_blob(json.dumps(secrets, indent=2).encode(), overwrite=False)
            return secrets
        except ResourceExistsError:  # another instance was first: its keys are the keys
            return self.read(scope) or secrets


def _key(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "encrypted": False}


def _named(keys: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(k["name"]): str(k["value"]) for k in keys or [] if k.get("value")}


class FunctionKeys:
    """The keys of one function app (host id) in its secret store, read once and then cached."""

    def __init__(self, store: SecretStore, instance_id: str = "devhost") -> None:
        self.store, self.instance_id = store, instance_id
        self._lock = threading.Lock()
        self._host: dict[str, Any] | None = None
        self._functions: dict[str, dict[str, str]] = {}

    def _meta(self) -> dict[str, Any]:
        return {"hostName": "localhost", "instanceId": self.instance_id, "source": "runtime",
                "decryptionKeyId": ""}

    def host_secrets(self) -> dict[str, Any]:
        with self._lock:
            if self._host is None:
                self._host = self.store.read("host") or self.store.create("host", {
                    "masterKey": _key("master", generate_key()), "functionKeys": [_key(DEFAULT, generate_key())],
                    "systemKeys": [], **self._meta()})
            return self._host

    @property
    def master(self) -> str:
        return str(self.host_secrets()["masterKey"]["value"])

    @property
    def host_keys(self) -> dict[str, str]:
        """The host keys by name (``default`` and any added); they open every FUNCTION-level route."""
        return _named(self.host_secrets().get("functionKeys"))

    @property
    def system_keys(self) -> dict[str, str]:
        return _named(self.host_secrets().get("systemKeys"))

    @property
    def default(self) -> str:
        """The ``default`` host key: what a client of the app's FUNCTION-level routes sends."""
        return self.host_keys[DEFAULT]

    def set_host_key(self, name: str, value: str | None = None) -> str:
        """Add or replace the host key ``name`` (as the portal's "New host key" does); its value."""
        value = value or generate_key()
        secrets = self.host_secrets()
        with self._lock:
            secrets["functionKeys"] = [k for k in secrets.get("functionKeys") or [] if k.get("name") != name]
            secrets["functionKeys"].append(_key(name, value))
            self.store.write("host", secrets)
        return value

    def function_keys(self, function: str) -> dict[str, str]:
        """The keys of one function by name (a ``default`` key is generated on first use)."""
        scope = function.lower()
        with self._lock:
            if scope not in self._functions:
                stored = self.store.read(scope) or self.store.create(scope, {
                    "keys": [_key(DEFAULT, generate_key())], **self._meta()})
                self._functions[scope] = _named(stored.get("keys"))
            return self._functions[scope]

    def level_of(self, key: str | None, function: str | None) -> tuple[str | None, str]:
        """(key name, level) a presented key grants for ``function``: master, system, host, function key."""
        if not key:
            return None, "ANONYMOUS"
        if _equal(key, self.master):
            return MASTER, "ADMIN"
        for keys, level in ((self.system_keys, "SYSTEM"), (self.host_keys, "FUNCTION")):
            name = next((n for n, v in keys.items() if _equal(key, v)), None)
            if name is not None:
                return name, level
        if function is not None:
            name = next((n for n, v in self.function_keys(function).items() if _equal(key, v)), None)
            if name is not None:
                return name, "FUNCTION"
        return None, "ANONYMOUS"

    def allows(self, required: str, key: str | None, function: str) -> bool:
        """Whether a request presenting ``key`` may call ``function`` of level ``required``."""
        required = required.upper()
        if required == "ANONYMOUS":
            return True
        _, level = self.level_of(key, function)
        return level == "ADMIN" or level == required

    def listing(self, functions: list[str]) -> dict[str, Any]:
        """What ``az functionapp keys list`` / ``function keys list`` show."""
        return {"masterKey": self.master, "functionKeys": self.host_keys, "systemKeys": self.system_keys,
                "functions": {f: self.function_keys(f) for f in functions}}


def keys_for(connection_string: str | None, host_id: str, instance_id: str = "devhost") -> FunctionKeys:
    """The keys of host ``host_id``: in the storage account when there is one, else in memory."""
    store: SecretStore = BlobStore(connection_string, host_id) if connection_string else MemoryStore()
    return FunctionKeys(store, instance_id)


def app_keys(environ: Mapping[str, str]) -> FunctionKeys:
    """The keys of this repository's app run by ``python -m devhost`` with app settings ``environ``
    (read from its storage account, as ``az functionapp keys list`` reads an app's keys in Azure)."""
    from .host import ROOT, AppSettings, host_id_of

    settings = AppSettings(environ)
    host_json = json.loads((ROOT / "host.json").read_text())
    return keys_for(settings.get("AzureWebJobsStorage"), host_id_of(host_json, settings))


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .host import ROOT, load_settings_file

    parser = argparse.ArgumentParser(prog="python -m devhost.keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host-id", help="the host id (host.json id, else WEBSITE_SITE_NAME, else devhost)")
    args = parser.parse_args(argv)
    load_settings_file(ROOT / "local.settings.json")
    conn = os.environ.get("AzureWebJobsStorage")
    if not conn:
        print("python -m devhost.keys: AzureWebJobsStorage is not set (the keys are kept in its account)")
        return 2
    from .host import load_app

    host = load_app() if not args.host_id else None
    keys = host.keys if host is not None else keys_for(conn, str(args.host_id))
    names = [r.name for r in host.routes if r.auth_level == "FUNCTION"] if host is not None else []
    print(json.dumps(keys.listing(names), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
