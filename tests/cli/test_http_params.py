"""Issue 23 item 3: unknown query parameters and body fields are a 400 naming them, on every HTTP route.

The walk goes through every route the function app registers (as the dev host serves them), so a new
route is checked too. The shape is checked before the route runs: a typo such as
``POST /api/environments/dev/stop?dryrun=true`` is refused before anything is read or stopped.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devhost.host import FunctionHost, HttpRoute
from functions._http import RAW
from tests.fixtures.host import keyed

VALUES = {"env": "dev", "id": "20260105T100000000Z-dev-notebooks-0123abcd", "name": "daily"}


@pytest.fixture(scope="module")
def host() -> FunctionHost:
    from function_app import app

    return FunctionHost(app)


def _path(route: HttpRoute) -> str:
    return re.sub(r"\{(\w+)[^}]*\}", lambda m: VALUES.get(m.group(1), "x"), route.route)


def _call(host: FunctionHost, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = b"" if body is None else json.dumps(body).encode()
    status, _, out = host.dispatch(method, f"http://localhost/api/{path}", keyed(host, {"Content-Type": "application/json"}),
                                   data)
    return status, json.loads(out)


def test_every_route_declares_its_shape(host: FunctionHost) -> None:
    assert len(host.routes) >= 15
    for r in host.routes:
        assert getattr(r.fn, "request_shape", None) is not None, f"{r.name}: not wrapped by functions._http.handle"


def test_every_route_refuses_an_unknown_query_parameter(host: FunctionHost) -> None:
    for r in host.routes:
        for method in sorted(r.methods):
            status, body = _call(host, method, _path(r) + "?bogus=1&code=k")
            assert status == 400, (r.name, method, status, body)
            assert body["error"] == "unknown_parameter" and "bogus" in body["message"], (r.name, body)


def test_every_route_with_a_json_body_refuses_an_unknown_field(host: FunctionHost) -> None:
    checked = 0
    for r in host.routes:
        if r.fn.request_shape.body == RAW or not r.methods & {"POST", "PUT", "PATCH"}:
            continue
        for method in sorted(r.methods & {"POST", "PUT", "PATCH"}):
            status, body = _call(host, method, _path(r), {"reason": "x", "bogsu": True})
            assert status == 400, (r.name, status, body)
            assert body["error"] == "unknown_field" and "bogsu" in body["message"], (r.name, body)
            checked += 1
    assert checked >= 9


def test_a_typo_in_dry_run_does_not_stop_the_environment(host: FunctionHost) -> None:
    status, body = _call(host, "POST", "environments/dev/stop?dryrun=true")
    assert status == 400 and body["error"] == "unknown_parameter"
    assert "dryrun" in body["message"] and "dry_run" in body["message"]  # names what is accepted
