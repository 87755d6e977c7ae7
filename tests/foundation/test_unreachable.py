"""Storage that cannot be reached is a clear 'unavailable', never a traceback or a 500."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import azure.functions as func

from devhost.azurite import KEY, free_port
from functions._http import handle, json_response
from shared.settings import StorageNames
from shared.storage import StorageAccount

ROOT = Path(__file__).resolve().parents[2]


def dead_storage() -> str:
    port = free_port()  # nothing listens there
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


def test_cli_says_unavailable_and_exits_3() -> None:
    env = {"PATH": "/usr/bin:/bin", "AzureWebJobsStorage": dead_storage()}
    out = subprocess.run([sys.executable, "-m", "shared.cli", "--config", "infra/environments.local.yaml",
                          "audit", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3
    assert "unavailable" in out.stderr
    assert "Traceback" not in out.stderr


def test_handler_answers_503_json() -> None:
    storage = StorageAccount(connection_string=dead_storage(), names=StorageNames("tdead"))

    @handle
    def probe(req: func.HttpRequest) -> func.HttpResponse:
        storage.table(storage.names.deployments_table).get_entity("dev", "x")
        return json_response({})

    resp = probe(func.HttpRequest("GET", "http://h/api/probe", body=b""))
    assert resp.status_code == 503
    assert json.loads(resp.get_body())["error"] == "unavailable"
