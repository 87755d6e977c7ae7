"""Building signed deliveries and a handler host for the webhook tests."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import azure.functions as func

from devhost.host import FunctionHost
from functions import hooks, worker
from shared import app as app_context
from shared.app import AppContext
from shared.clock import Clock
from shared.config import PlatformConfig, parse_config
from shared.deploy.components import COMPONENTS, ComponentRegistry
from shared.deploy.queue import DeploymentQueue
from shared.ingest.webhook_sources import sign_github
from shared.settings import Settings
from shared.storage import StorageAccount

SECRETS = {"GITHUB_WEBHOOK_SECRET": "It's a Secret to Everybody", "AZDO_WEBHOOK_USER": "hook",
           "AZDO_WEBHOOK_PASSWORD": "s3cret-pass", "GITLAB_WEBHOOK_TOKEN": "gl-token-123"}
ENV = {"deploy_on": ["push"],
       "databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"},
       "data_factory": {"subscription_id": "11111111-1111-1111-1111-111111111111",
                        "resource_group": "rg", "factory_name": "adf-dev"}}
# The repositories the deliveries below come from (their defaults).
GH = "https://github.com/contoso/data-platform"
ADO = "https://dev.azure.com/contoso/data/_git/platform"
GL = "https://gitlab.com/contoso/platform"


def config_for(provider: str, url: str, main: str = "main") -> PlatformConfig:
    return parse_config({"repository": {"provider": provider, "url": url, "main_branch": main},
                         "environments": {"dev": ENV, "test": {**ENV, "deploy_on": ["push"]},
                                          "prod": {"deploy_on": ["manual"]}}})


def host() -> FunctionHost:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(hooks.bp)
    app.register_functions(worker.bp)
    return FunctionHost(app, {"extensions": {"queues": {"maxDequeueCount": 2}}})


def context(storage: StorageAccount, config: PlatformConfig, clock: Clock,
            settings: dict[str, str] | None = None, components: ComponentRegistry = COMPONENTS) -> AppContext:
    return AppContext(settings=Settings({**SECRETS, **(settings or {})}), clock=clock, components=components,
                      _config=config, _storage=storage)


@contextmanager
def serving(storage: StorageAccount, clock: Clock, provider: str = "github", url: str = GH,
            settings: dict[str, str] | None = None) -> Iterator[AppContext]:
    """The app's current context for ``provider``'s repository at ``url`` while the block runs."""
    ctx = context(storage, config_for(provider, url), clock, settings)
    app_context.set_current(ctx)
    try:
        yield ctx
    finally:
        app_context.set_current(None)


_HOST: FunctionHost | None = None


def dispatch(route: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """POST one delivery to ``/api/hooks/<route>`` through the dev host (one host per test process)."""
    global _HOST
    if _HOST is None:
        _HOST = host()
    status, _, data = _HOST.dispatch("POST", f"http://localhost/api/hooks/{route}", headers, body)
    return status, data


def post(route: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    """:func:`dispatch` with the JSON answer."""
    status, data = dispatch(route, headers, body)
    return status, json.loads(data)


def queued(storage: StorageAccount) -> int:
    """How many deployment requests wait in the queue."""
    return len(DeploymentQueue(storage).peek())


def github(payload: dict[str, Any] | bytes, event: str = "push", delivery: str | None = None,
           secret: str = SECRETS["GITHUB_WEBHOOK_SECRET"]) -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ({"Content-Type": "application/json", "X-GitHub-Event": event,
             "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "X-Hub-Signature-256": sign_github(secret, body)},
            body)


def azure_devops(payload: dict[str, Any] | bytes, user: str = SECRETS["AZDO_WEBHOOK_USER"],
                 password: str = SECRETS["AZDO_WEBHOOK_PASSWORD"]) -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}, body


def gitlab(payload: dict[str, Any] | bytes, token: str = SECRETS["GITLAB_WEBHOOK_TOKEN"],
           delivery: str | None = None, event: str = "Push Hook") -> tuple[dict[str, str], bytes]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return ({"Content-Type": "application/json", "X-Gitlab-Event": event, "X-Gitlab-Token": token,
             "X-Gitlab-Event-UUID": delivery or str(uuid.uuid4())}, body)


def github_push(repo: str = "contoso/data-platform", ref: str = "refs/heads/main", after: str = "b" * 40,
                before: str = "a" * 40, **extra: Any) -> dict[str, Any]:
    return {"ref": ref, "before": before, "after": after, "created": False, "deleted": after == "0" * 40,
            "forced": False,
            "repository": {"full_name": repo, "clone_url": f"https://github.com/{repo}.git",
                           "html_url": f"https://github.com/{repo}", "ssh_url": f"git@github.com:{repo}.git"},
            "pusher": {"name": "ada", "email": "ada@example.com"}, "sender": {"login": "ada"},
            "commits": [{"id": after, "message": "Add notebook", "timestamp": "2026-01-05T11:00:00+01:00",
                         "author": {"name": "Ada", "username": "ada"}}], **extra}


def azure_devops_push(url: str = "https://dev.azure.com/contoso/data/_git/platform", ref: str = "refs/heads/main",
                      after: str = "c" * 40, nid: str | None = None) -> dict[str, Any]:
    return {"id": nid or str(uuid.uuid4()), "eventType": "git.push", "publisherId": "tfs",
            "resource": {"refUpdates": [{"name": ref, "oldObjectId": "d" * 40, "newObjectId": after}],
                         "commits": [{"commitId": after, "comment": "Fix",
                                      "author": {"name": "Bo", "email": "bo@example.com",
                                                 "date": "2026-01-05T10:00:00Z"}}],
                         "repository": {"name": "platform", "remoteUrl": url},
                         "pushedBy": {"uniqueName": "bo@example.com", "displayName": "Bo"}}}


def gitlab_push(url: str = "https://gitlab.com/contoso/platform.git", ref: str = "refs/heads/main",
                after: str = "e" * 40) -> dict[str, Any]:
    return {"object_kind": "push", "event_name": "push", "ref": ref, "before": "f" * 40, "after": after,
            "user_username": "cy", "user_name": "Cy",
            "project": {"path_with_namespace": "contoso/platform", "git_http_url": url,
                        "web_url": url.removesuffix(".git")},
            "commits": [{"id": after, "message": "m", "timestamp": "2026-01-05T09:00:00+00:00",
                         "author": {"name": "Cy", "email": "cy@example.com"}}]}
