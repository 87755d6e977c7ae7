"""function_app.py as the Python worker indexes it, against what the dev host serves and the app sends to.

The worker sends the host each function's raw bindings; the host resolves
``%SETTING%`` expressions from the app settings and listens on the result. The
app must send its deployment requests to exactly that queue, in every
configuration (the production bug of issue 19: with ``DATAOPS_STORAGE_PREFIX``
set the app sent to ``{prefix}dataops-deployments`` while the trigger listened
on ``dataops-deployments``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.host import AppSettings, BindingError, load_app, queue_name
from shared.errors import ConfigError
from shared.settings import DEPLOY_QUEUE_BINDING, Settings

ROOT = Path(__file__).resolve().parents[2]

CONFIGURATIONS = [
    {"DATAOPS_DEPLOY_QUEUE": "dataops-deployments"},
    {"DATAOPS_STORAGE_PREFIX": "blue", "DATAOPS_DEPLOY_QUEUE": "dataops-deployments"},
    {"DATAOPS_STORAGE_PREFIX": "blue", "DATAOPS_DEPLOY_QUEUE": "bluedataops-deployments"},
    {"DATAOPS_DEPLOY_QUEUE": "Release-Requests"},  # the host lowercases queue names
    {"dataops_deploy_queue": "jobs-q"},  # app settings are case-insensitive in the host
]


def worker_index(env: dict[str, str]) -> list[dict[str, Any]]:
    """Index function_app.py in a fresh process, as the Python worker does."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("DATAOPS_")}
    out = subprocess.run([sys.executable, "-m", "devhost.worker_index", str(ROOT / "function_app.py")],
                         cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(out.stdout))


@pytest.fixture(scope="module")
def indexed() -> list[dict[str, Any]]:
    return worker_index({"DATAOPS_DEPLOY_QUEUE": "dataops-deployments"})


def _trigger(fn: dict[str, Any]) -> dict[str, Any]:
    (trig,) = [b for b in fn["bindings"] if b["type"].endswith("Trigger")]
    return dict(trig)


def test_dev_host_serves_exactly_what_the_worker_indexes(indexed: list[dict[str, Any]]) -> None:
    env = {"DATAOPS_DEPLOY_QUEUE": "dataops-deployments"}
    served = load_app(environ=env).served()
    assert sorted(served) == sorted(f["name"] for f in indexed)
    settings = AppSettings(env)
    for fn in indexed:
        trig, got = _trigger(fn), served[fn["name"]]
        assert "error" not in got, got
        assert got["type"] == trig["type"]
        if trig["type"] == "httpTrigger":
            assert got["route"] == trig["route"]
            assert got["methods"] == sorted(m.upper() for m in trig["methods"])
            assert got["authLevel"] == trig.get("authLevel", "FUNCTION").upper()
        elif trig["type"] == "queueTrigger":
            assert got["queue"] == queue_name(trig["queueName"], settings)
            assert trig["connection"] == "AzureWebJobsStorage"
        else:
            assert trig["type"] == "timerTrigger"
            assert (got["schedule"], got["runOnStartup"], got["useMonitor"]) == \
                (trig["schedule"], trig.get("runOnStartup", False), trig["useMonitor"])


def test_every_function_is_a_known_trigger_with_unique_routes(indexed: list[dict[str, Any]]) -> None:
    kinds = {_trigger(f)["type"] for f in indexed}
    assert kinds <= {"httpTrigger", "queueTrigger", "timerTrigger"}
    routes = [(_trigger(f)["route"].lower(), m) for f in indexed if _trigger(f)["type"] == "httpTrigger"
              for m in _trigger(f)["methods"]]
    assert len(routes) == len(set(routes)), "two functions serve one route and method (case-insensitive)"


@pytest.mark.parametrize("env", CONFIGURATIONS, ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_the_app_sends_to_the_queue_the_trigger_listens_on(env: dict[str, str]) -> None:
    (worker,) = [f for f in worker_index(env) if f["name"] == "deployment_worker"]
    (poison,) = [f for f in worker_index(env) if f["name"] == "deployment_poison"] or [None]
    assert _trigger(worker)["queueName"] == DEPLOY_QUEUE_BINDING
    served = load_app(environ=env).served()
    names = Settings(env).names
    assert names.deploy_queue == served["deployment_worker"]["queue"]
    # What the host moves failed requests to is what the poison recorder listens on and the app knows.
    assert names.poison_queue == served["deployment_worker"]["poison"] == served["deployment_poison"]["queue"]
    assert served["deployment_poison"]["poison"] is None  # a poison queue has no poison queue
    assert poison is not None


def test_without_the_queue_setting_neither_side_pretends() -> None:
    env: dict[str, str] = {}
    host = load_app(environ=env)
    assert host.errors["deployment_worker"] == "'%DATAOPS_DEPLOY_QUEUE%' does not resolve to a value."
    assert "deployment_poison" in host.errors
    assert "github_hook" in host.served() and "error" not in host.served()["github_hook"]  # the rest runs
    with pytest.raises(ConfigError, match="DATAOPS_DEPLOY_QUEUE"):
        _ = Settings(env).names.deploy_queue
    assert Settings(env).names.queues() == []


def test_binding_expressions_resolve_as_the_host_resolves_them() -> None:
    s = AppSettings({"A": "x", "Section__Key": "y", "EMPTY": ""})
    assert s.resolve("%a%-%section:key%-q") == "x-y-q"
    assert s.resolve("%EMPTY%") == ""
    with pytest.raises(BindingError, match="does not resolve"):
        s.resolve("%B%")
    with pytest.raises(BindingError, match="closing"):
        s.resolve("q-%A")
    with pytest.raises(BindingError, match="Invalid queue name"):
        queue_name("%EMPTY%", s)
    with pytest.raises(BindingError, match="Invalid queue name"):
        queue_name("a--b", s)
    with pytest.raises(ConfigError, match="not a valid queue name"):
        _ = Settings({"DATAOPS_DEPLOY_QUEUE": "x" * 60}).names  # its -poison queue would be too long
