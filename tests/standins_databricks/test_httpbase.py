"""The HTTP(S) server base: routing, errors, keep-alive, HTTPS, and the runnable process."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devhost.standins.httpbase import HttpError, Request, Response, StandInServer, json_response

ROOT = Path(__file__).resolve().parents[2]


def _server(**kw: object) -> StandInServer:
    server = StandInServer(**kw)  # type: ignore[arg-type]

    @server.route("GET", r"/items/(?P<id>\d+)", name="items.get")
    def get(req: Request) -> Response:
        return json_response({"id": req.match["id"], "q": req.arg("q")})

    @server.route("POST", r"/boom", name="boom")
    def boom(req: Request) -> Response:
        if req.json().get("caller"):
            raise HttpError(409, "Conflict", "caller mistake")
        raise RuntimeError("stand-in bug")

    return server


def test_routing_errors_and_counters() -> None:
    with _server() as server, requests.Session() as s:
        assert s.get(server.url + "/items/7", params={"q": "x"}).json() == {"id": "7", "q": "x"}
        assert s.post(server.url + "/boom", json={"caller": 1}).status_code == 409
        r = s.post(server.url + "/boom", json={})
        assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"
        assert s.post(server.url + "/items/7").status_code == 405
        assert s.get(server.url + "/nowhere").status_code == 404
        assert server.counters.snapshot() == {"items.get": 1, "boom": 2, "unrouted": 2}


def test_https_with_local_ca() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    with _server(ssl_context=ctx) as server, ca.cert_pem.tempfile() as bundle:
        assert server.url.startswith("https://127.0.0.1:")
        assert requests.get(server.url + "/items/1", verify=bundle, timeout=5).json()["id"] == "1"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url + "/items/1", timeout=5)


def test_runs_as_a_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "devhost.standins.databricks", "--port", "0", "--token", "tok",
                             "--rate-limit", "100", "--latency-ms", "1", "--seed", "3"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        deadline = time.monotonic() + 10
        r = None
        while time.monotonic() < deadline:
            r = requests.get(url + "/api/2.0/workspace/get-status", params={"path": "/Shared"},
                             headers={"Authorization": "Bearer tok"}, timeout=5)
            if r.status_code == 200:
                break
        assert r is not None and r.json()["object_type"] == "DIRECTORY"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
