"""Every HTTP route on a storage account without the app's tables/queues/containers: one 503 JSON line.

The CLI says ``storage_not_initialized`` and exits 3 (``dataops storage init`` provisions); over HTTP the
same condition was a ``TableNotFound`` raised inside the route, an opaque 500. The walk goes through every
route the app registers (as the dev host serves them), so a new route is checked too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.azurite import Azurite
from devhost.host import FunctionHost, HttpRoute
from functions._http import RAW
from shared.app import AppContext, set_current
from shared.config import parse_config
from shared.settings import Settings, StorageNames
from shared.storage import StorageAccount
from tests.fixtures.host import keyed
from tests.fixtures.identity import AUTH_ON, signed_in
from tests.ingest.helpers import github, github_push

VALUES = {"env": "dev", "id": "20260105T100000000Z-dev-notebooks-0123abcd", "name": "daily"}


@pytest.fixture
def bare(azurite: Azurite, unique_prefix: str) -> Iterator[AppContext]:
    """The app on an account that was never initialised (a new account, or another prefix)."""
    names = StorageNames(prefix=unique_prefix)
    storage = StorageAccount(connection_string=azurite.connection_string, names=names)
    env = {**AUTH_ON, "AzureWebJobsStorage": azurite.connection_string, "DATAOPS_STORAGE_PREFIX": unique_prefix,
           "DATAOPS_DEPLOY_QUEUE": names.deploy_queue, "GITHUB_WEBHOOK_SECRET": "s3cret"}
    config = parse_config({"repository": {"provider": "local", "url": "https://example.invalid/platform"},
                           "environments": {"dev": {"deploy_on": ["push"]}}})
    ctx = AppContext(settings=Settings(env), _config=config, _storage=storage)
    set_current(ctx)
    try:
        yield ctx
    finally:
        set_current(None)


@pytest.fixture(scope="module")
def host() -> FunctionHost:
    from function_app import app

    return FunctionHost(app)


def _path(route: HttpRoute) -> str:
    return re.sub(r"\{(\w+)[^}]*\}", lambda m: VALUES.get(m.group(1), "x"), route.route)


def _call(host: FunctionHost, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    headers = keyed(host, {"Content-Type": "application/json", **signed_in("ops@contoso.example")})
    status, out_headers, out = host.dispatch(method, f"http://localhost/api/{path}", headers, body)
    ctype = out_headers.get("Content-Type", "")
    return status, out_headers, json.loads(out) if ctype.startswith("application/json") and out else out


def test_reading_routes_answer_503_naming_what_is_missing(host: FunctionHost, bare: AppContext) -> None:
    for path in ("deployments", "deployments/20260105T100000000Z-dev-notebooks-0123abcd", "metrics/dora",
                 "environments/dev", "incidents", "branches", "dashboard"):
        status, headers, body = _call(host, "GET", path)
        assert status == 503, (path, status, body)
        assert body["error"] == "storage_not_initialized", (path, body)
        assert "dataops storage init" in body["message"] and bare.storage.names.prefix in body["message"], body
        assert "Retry-After" not in headers  # nothing to retry until someone provisions it


def test_no_route_answers_500_on_an_unprovisioned_account(host: FunctionHost, bare: AppContext) -> None:
    seen: dict[str, int] = {}
    for r in host.routes:
        for method in sorted(r.methods):
            body = b"{}" if method in ("POST", "PUT", "PATCH") and r.fn.request_shape.body != RAW else b""
            status, _, out = _call(host, method, _path(r), body)
            seen[f"{method} {r.route}"] = status
            assert status != 500, (r.name, method, out)
            if status == 503:
                assert isinstance(out, dict) and out.get("error") == "storage_not_initialized", (r.name, out)
    assert sum(1 for s in seen.values() if s == 503) >= 12, seen
    status, _, out = _call(host, "POST", "incidents/dev~20260105T100000000Z/resolve", b"{}")
    assert status == 503 and out["error"] == "storage_not_initialized", out  # not "no such incident"


def test_a_signed_push_answers_503_and_names_the_fix(host: FunctionHost, bare: AppContext) -> None:
    headers, body = github(github_push(), secret="s3cret")
    status, _, out = host.dispatch("POST", "http://localhost/api/hooks/github", headers, body)
    assert status == 503, out
    assert json.loads(out)["error"] == "storage_not_initialized"
