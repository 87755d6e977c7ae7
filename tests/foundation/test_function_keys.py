"""The dev host checks function keys as the Functions host does in Azure (docs/standin-host.md, "Function keys").

Core Tools skips the check locally; the dev host does not, so a client that forgets the key fails here
as it would in Azure (before this, a request without a key to a FUNCTION-level route answered 200).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import azure.functions as func
import pytest

from devhost.azurite import Azurite
from devhost.host import FunctionHost
from devhost.keys import SECRETS_CONTAINER, keys_for
from shared.app import AppContext, set_current
from shared.config import parse_config
from shared.settings import Settings
from shared.storage import StorageAccount
from tests.fixtures.host import keyed


def levels_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="f", methods=["GET"])
    def f(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(json.dumps({"code": req.params.get("code")}), mimetype="application/json")

    @app.route(route="g", methods=["GET"])
    def g(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("g")

    @app.route(route="admin", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
    def admin(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("admin")

    @app.route(route="open", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def open_(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("open")

    return app


@pytest.fixture(scope="module")
def host() -> FunctionHost:
    return FunctionHost(levels_app(), {}, environ={})  # no storage: keys in memory


def _get(host: FunctionHost, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return host.dispatch("GET", f"http://h/api/{path}", headers or {}, b"")


def test_a_function_level_route_without_a_valid_key_is_an_empty_401(host: FunctionHost) -> None:
    assert _get(host, "f") == (401, {}, b"")
    assert _get(host, "f?code=")[0] == 401
    assert _get(host, "f?code=not-a-key")[0] == 401
    assert _get(host, "f", {"x-functions-key": host.keys.default.upper()})[0] == 401  # values are exact
    assert _get(host, "nothing-here")[0] == 404  # routing comes first: no key needed to learn it is not there


def test_keys_by_header_or_code_and_their_case_rules(host: FunctionHost) -> None:
    key = host.keys.default
    assert key.endswith("==") and len(key) == 56 and re.fullmatch(r"[A-Za-z0-9_-]+==", key)
    status, _, body = _get(host, f"f?code={key}")
    assert status == 200 and json.loads(body) == {"code": key}  # the function still sees ?code=
    assert _get(host, f"f?CODE={key}")[0] == 200  # ASP.NET Core's query is case-insensitive
    assert _get(host, "f", {"x-functions-key": key})[0] == 200
    assert _get(host, "f", {"X-Functions-Key": key})[0] == 200
    # The header wins over the query, even when it is empty or wrong.
    assert _get(host, f"f?code={key}", {"x-functions-key": "wrong"})[0] == 401
    assert _get(host, f"f?code={key}", {"x-functions-key": ""})[0] == 401
    assert _get(host, "f?code=wrong", {"x-functions-key": key})[0] == 200


def test_which_key_opens_which_level(host: FunctionHost) -> None:
    keys = host.keys
    master, default, own = keys.master, keys.default, keys.function_keys("f")["default"]
    assert len({master, default, own}) == 3
    for path, grants in (("f", {master, default, own}), ("g", {master, default}), ("admin", {master})):
        for key in (master, default, own):
            status = _get(host, path, {"x-functions-key": key})[0]
            assert status == (200 if key in grants else 401), (path, key == master, key == default)
    keys.host_secrets()["systemKeys"].append({"name": "ext", "value": "s" * 56, "encrypted": False})
    assert keys.level_of("s" * 56, "f") == ("ext", "SYSTEM")
    assert _get(host, "f", {"x-functions-key": "s" * 56})[0] == 401  # a system key is not a function key
    assert _get(host, "open")[0] == 200 and _get(host, "open?code=wrong")[0] == 200


def test_keys_are_kept_in_the_hosts_secret_blobs_and_shared_by_instances(azurite: Azurite) -> None:
    host_id = f"keys-{uuid.uuid4().hex[:12]}"
    env = {"AzureWebJobsStorage": azurite.connection_string}
    one = FunctionHost(levels_app(), {"id": host_id}, environ=env)
    two = FunctionHost(levels_app(), {"id": host_id}, environ=env)
    assert one.keys.default == two.keys.default and one.keys.master == two.keys.master
    assert one.keys.function_keys("F") == two.keys.function_keys("f")
    assert two.dispatch("GET", f"http://h/api/g?code={one.keys.default}", {}, b"")[0] == 200
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        SECRETS_CONTAINER)
    stored = json.loads(container.download_blob(f"{host_id}/host.json").readall())
    assert stored["masterKey"] == {"name": "master", "value": one.keys.master, "encrypted": False}
    assert stored["functionKeys"] == [{"name": "default", "value": one.keys.default, "encrypted": False}]
    assert json.loads(container.download_blob(f"{host_id}/f.json").readall())["keys"][0]["name"] == "default"
    # A client reads them from the account (as `az functionapp keys list` does for an app in Azure).
    assert keys_for(azurite.connection_string, host_id).default == one.keys.default
    other = FunctionHost(levels_app(), {"id": f"{host_id}-other"}, environ=env)
    assert other.keys.default != one.keys.default  # another app, other keys


@pytest.fixture
def app_ctx(storage: StorageAccount) -> Iterator[AppContext]:
    config = parse_config({"repository": {"provider": "local", "url": "https://example.invalid/platform"},
                           "environments": {"dev": {"deploy_on": ["push"]}}})
    ctx = AppContext(settings=Settings({}), _config=config, _storage=storage)
    set_current(ctx)
    try:
        yield ctx
    finally:
        set_current(None)


def test_the_apps_routes_need_a_key_but_the_webhooks(app_ctx: AppContext) -> None:
    from function_app import app

    host = FunctionHost(app)
    served = {r.route: r.auth_level for r in host.routes}
    assert {level for route, level in served.items() if not route.startswith("hooks/")} == {"FUNCTION"}
    assert {level for route, level in served.items() if route.startswith("hooks/")} == {"ANONYMOUS"}
    assert host.dispatch("GET", "http://localhost/api/deployments", {}, b"") == (401, {}, b"")
    status, _, body = host.dispatch("GET", "http://localhost/api/deployments", keyed(host), b"")
    assert status == 200 and json.loads(body)["items"] == []
    # A provider's webhook URL may carry ?code= (GitHub keeps the URL as given): the route is anonymous and
    # checks the provider's own signature, so the app answers (its JSON 401), not the host's empty 401.
    for query in ("", "?code=whatever"):
        status, _, body = host.dispatch("POST", f"http://localhost/api/hooks/github{query}",
                                        {"X-GitHub-Event": "push"}, b"{}")
        assert status == 401 and json.loads(body)["error"], body
