"""A local Databricks workspace stand-in speaking the REST shapes ``databricks-sdk`` uses.

Serves, over HTTP on 127.0.0.1 (port 0 by default):

* ``GET /.well-known/databricks-config`` (unauthenticated, as the SDK probes it at start-up);
* Workspace API 2.0: ``import`` (JSON base64 or multipart), ``export``, ``mkdirs``,
  ``get-status``, ``list``, ``delete`` (see :mod:`devhost.standins.databricks_workspace`);
* SCIM 2.0 ``Users`` (list with filter, get) and the permissions API 2.0 of directories and
  notebooks (see :mod:`devhost.standins.databricks_iam`);
* Clusters 2.0/2.1 ``list/get/start/delete``, SQL warehouses 2.0 ``list/get/start/stop``,
  Jobs 2.0-2.2 ``list/get/update/reset`` (see :mod:`devhost.standins.databricks_compute`);
* Jobs runs 2.1/2.2: ``run-now``, ``runs/submit``, ``runs/get``, ``runs/get-output``, ``runs/cancel``
  with scripted durations and outcomes (see :mod:`devhost.standins.databricks_runs`).

Every other request needs ``Authorization: Bearer <token>``: none gets 401, a wrong token 403,
in Databricks' ``{"error_code": ..., "message": ...}`` shape. Faults and counters come from
:class:`~devhost.standins.httpbase.StandInServer`; route names are ``workspace.import``,
``workspace.export``, ``clusters.start``, ``warehouses.stop``, ``jobs.update`` and so on.

Run alone: ``python -m devhost.standins.databricks --host 127.0.0.2 --port 80 --token T``.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from .databricks_compute import ComputeState
from .databricks_iam import IamState
from .databricks_runs import RunScript, RunsState
from .databricks_workspace import ImportRequest, WorkspaceError, WorkspaceObject, WorkspaceTree, decode_base64
from .faults import FaultInjector
from .httpbase import HttpError, Request, Response, ServedStandIn, StandInServer, json_response

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient

    from shared.config import DatabricksTarget
    from shared.settings import Settings

WORKSPACE_ID = "1234567890123456"
TOKEN_SETTING = "DATABRICKS_STANDIN_TOKEN"


def databricks_error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """Databricks' error shape (what ``databricks.sdk.errors`` parses)."""
    return {"error_code": code, "message": message}


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _parse_multipart(req: Request) -> dict[str, Any]:
    """Form fields of a multipart/form-data body (``content`` stays bytes, others are text)."""
    ctype = req.header("content-type", "") or ""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + req.body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        raise HttpError(400, "MALFORMED_REQUEST", "Invalid multipart body")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        fields[name] = data if name == "content" else data.decode("utf-8", "replace")
    return fields


class DatabricksStandIn(ServedStandIn):
    """The stand-in: state, HTTP routes, seed helpers and a product-ready client config.

    ``delay_s`` is how long transitional states (PENDING, TERMINATING, STARTING, STOPPING)
    last; ``clock_ms`` gives epoch milliseconds for ``created_at``/``modified_at``.
    """

    def __init__(self, *, token: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 delay_s: float = 0.2, seed: int = 0, faults: FaultInjector | None = None,
                 clock_ms: Any = None, monotonic: Any = None, run_s: float = 0.2, serverless: bool = True) -> None:
        self.token = token or "dapi" + secrets.token_hex(16)
        clock = clock_ms or (lambda: int(time.time() * 1000))
        self.workspace = WorkspaceTree(clock)
        self.iam = IamState(self.workspace)
        self.compute = ComputeState(delay_s=delay_s, monotonic=monotonic or time.monotonic, clock_ms=clock)
        self.runs = RunsState(delay_s=delay_s, monotonic=monotonic or time.monotonic, clock_ms=clock,
                              notebook_source=self._notebook_source, cluster_exists=self._cluster_exists,
                              host=lambda: self.url, default_run_s=run_s, serverless=serverless)
        self.server = StandInServer(name="databricks-standin", host=host, port=port,
                                    faults=faults or FaultInjector(seed), error_body=databricks_error_body,
                                    authenticate=self._authenticate)
        self._register()

    def _authenticate(self, req: Request) -> Response | None:
        if req.route == "well-known":
            return None
        auth = req.header("authorization")
        if not auth:
            return self.server.error(401, "UNAUTHENTICATED",
                                     "Credential was not sent or was of an unsupported type for this API.")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(value.strip(), self.token):
            return self.server.error(403, "PERMISSION_DENIED", "Invalid access token.")
        return None

    def _route(self, method: str, pattern: str, name: str, handler: Any) -> None:
        def wrapped(req: Request) -> Response:
            try:
                return handler(req)
            except WorkspaceError as exc:
                raise HttpError(exc.status, exc.error_code, exc.message) from exc
        self.server.add_route(method, pattern, wrapped, name)

    def _register(self) -> None:
        r = self._route
        r("GET", r"/\.well-known/databricks-config", "well-known", self._well_known)
        ws = r"/api/2\.0/workspace"
        r("POST", ws + r"/import", "workspace.import", self._import)
        r("GET", ws + r"/export", "workspace.export", self._export)
        r("POST", ws + r"/mkdirs", "workspace.mkdirs", self._mkdirs)
        r("GET", ws + r"/get-status", "workspace.get-status", self._get_status)
        r("GET", ws + r"/list", "workspace.list", self._list)
        r("POST", ws + r"/delete", "workspace.delete", self._delete)
        scim = r"/api/2\.0/preview/scim/v2/Users"
        r("GET", scim, "scim.users.list", self.iam.list_users)
        r("GET", scim + r"/(?P<id>[^/]+)", "scim.users.get", self.iam.get_user)
        perms = r"/api/2\.0/permissions/(?P<type>[a-z-]+)/(?P<id>[^/]+)"
        r("GET", perms, "permissions.get", self.iam.get_permissions)
        r("PUT", perms, "permissions.set", self.iam.set_permissions)
        r("PATCH", perms, "permissions.update", self.iam.update_permissions)
        cl = r"/api/2\.[01]/clusters"
        r("GET", cl + r"/list", "clusters.list", self._clusters_list)
        r("GET", cl + r"/get", "clusters.get", self._clusters_get)
        r("POST", cl + r"/start", "clusters.start", self._clusters_start)
        r("POST", cl + r"/delete", "clusters.delete", self._clusters_delete)
        wh = r"/api/2\.0/sql/warehouses"
        r("GET", wh, "warehouses.list", self._warehouses_list)
        r("GET", wh + r"/(?P<id>[^/]+)", "warehouses.get", self._warehouses_get)
        r("POST", wh + r"/(?P<id>[^/]+)/start", "warehouses.start", self._warehouses_start)
        r("POST", wh + r"/(?P<id>[^/]+)/stop", "warehouses.stop", self._warehouses_stop)
        jb = r"/api/2\.[012]/jobs"
        r("GET", jb + r"/list", "jobs.list", self._jobs_list)
        r("GET", jb + r"/get", "jobs.get", self._jobs_get)
        r("POST", jb + r"/update", "jobs.update", self._jobs_update)
        r("POST", jb + r"/reset", "jobs.reset", self._jobs_reset)
        runs = r"/api/2\.[12]/jobs"
        r("POST", runs + r"/run-now", "jobs.run-now", self._run_now)
        r("POST", runs + r"/runs/submit", "jobs.runs.submit", self._runs_submit)
        r("GET", runs + r"/runs/get", "jobs.runs.get", self._runs_get)
        r("GET", runs + r"/runs/get-output", "jobs.runs.get-output", self._runs_output)
        r("POST", runs + r"/runs/cancel", "jobs.runs.cancel", self._runs_cancel)

    # -- handlers ---------------------------------------------------------------------------
    def _well_known(self, req: Request) -> Response:
        return json_response({"oidc_endpoint": f"{self.url}/oidc", "workspace_id": WORKSPACE_ID})

    @staticmethod
    def _required(value: Any, name: str) -> Any:
        if value is None or value == "":
            raise HttpError(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {name}")
        return value

    def _import(self, req: Request) -> Response:
        ctype = (req.header("content-type") or "").lower()
        if ctype.startswith("multipart/form-data"):
            fields = _parse_multipart(req)
            content = fields.get("content", b"")
            if isinstance(fields.get("content"), str):
                content = fields["content"].encode()
        else:
            fields = req.json()
            if not isinstance(fields, dict):
                raise HttpError(400, "MALFORMED_REQUEST", "Request body must be a JSON object")
            content = decode_base64(fields.get("content"))
        ireq = ImportRequest(path=self._required(fields.get("path"), "path"), content=content,
                             format=str(fields.get("format") or "SOURCE"),
                             language=fields.get("language") or None,
                             overwrite=_flag(fields.get("overwrite")))
        self.workspace.import_(ireq)
        return json_response({})

    def _export(self, req: Request) -> Response:
        path = self._required(req.arg("path"), "path")
        content, file_type = self.workspace.export(path, (req.arg("format") or "SOURCE").upper())
        if _flag(req.arg("direct_download")):
            return Response(200, content, "application/octet-stream")
        return json_response({"content": base64.b64encode(content).decode(), "file_type": file_type})

    def _mkdirs(self, req: Request) -> Response:
        self.workspace.mkdirs(self._required(req.json().get("path"), "path"))
        return json_response({})

    def _get_status(self, req: Request) -> Response:
        return json_response(self.workspace.status(self._required(req.arg("path"), "path")))

    def _list(self, req: Request) -> Response:
        after = req.arg("notebooks_modified_after")
        objects = self.workspace.list_dir(self._required(req.arg("path"), "path"),
                                      int(after) if after else None)
        # Like the real API, an empty folder answers {} (no "objects" key).
        return json_response({"objects": objects} if objects else {})

    def _delete(self, req: Request) -> Response:
        body = req.json()
        self.workspace.delete(self._required(body.get("path"), "path"), _flag(body.get("recursive")))
        return json_response({})

    def _clusters_list(self, req: Request) -> Response:
        states = req.query.get("filter_by.cluster_states") or None
        sources = req.query.get("filter_by.cluster_sources") or None
        return json_response({"clusters": self.compute.list_clusters(states, sources)})

    def _clusters_get(self, req: Request) -> Response:
        return json_response(self.compute.get_cluster(self._required(req.arg("cluster_id"), "cluster_id")))

    def _clusters_start(self, req: Request) -> Response:
        self.compute.start_cluster(self._required(req.json().get("cluster_id"), "cluster_id"))
        return json_response({})

    def _clusters_delete(self, req: Request) -> Response:
        self.compute.terminate_cluster(self._required(req.json().get("cluster_id"), "cluster_id"))
        return json_response({})

    def _warehouses_list(self, req: Request) -> Response:
        return json_response({"warehouses": self.compute.list_warehouses()})

    def _warehouses_get(self, req: Request) -> Response:
        return json_response(self.compute.get_warehouse(req.match["id"]))

    def _warehouses_start(self, req: Request) -> Response:
        self.compute.start_warehouse(req.match["id"])
        return json_response({})

    def _warehouses_stop(self, req: Request) -> Response:
        self.compute.stop_warehouse(req.match["id"])
        return json_response({})

    def _jobs_list(self, req: Request) -> Response:
        jobs = self.compute.list_jobs(expand_tasks=_flag(req.arg("expand_tasks")), name=req.arg("name"))
        offset = int(req.arg("offset") or 0)
        limit = int(req.arg("limit") or 20)
        token = req.arg("page_token")
        if token:
            offset = int(token)
        page = jobs[offset:offset + limit]
        body: dict[str, Any] = {"has_more": offset + limit < len(jobs)}
        if page:
            body["jobs"] = page
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return json_response(body)

    def _jobs_get(self, req: Request) -> Response:
        return json_response(self.compute.get_job(self._required(req.arg("job_id"), "job_id")))

    def _jobs_update(self, req: Request) -> Response:
        body = req.json()
        self.compute.update_job(self._required(body.get("job_id"), "job_id"), body.get("new_settings"),
                                body.get("fields_to_remove"))
        return json_response({})

    def _jobs_reset(self, req: Request) -> Response:
        body = req.json()
        self.compute.reset_job(self._required(body.get("job_id"), "job_id"),
                               self._required(body.get("new_settings"), "new_settings"))
        return json_response({})

    def _notebook_source(self, path: str) -> bytes | None:
        try:
            obj = self.workspace.get(path)
        except WorkspaceError:
            return None
        return self.workspace.export(path, "SOURCE")[0] if obj.object_type == "NOTEBOOK" else None

    def _cluster_exists(self, cluster_id: str) -> bool:
        try:
            self.compute.get_cluster(cluster_id)
        except WorkspaceError:
            return False
        return True

    def _run_now(self, req: Request) -> Response:
        body = req.json()
        job_id = self._required(body.get("job_id"), "job_id")
        try:
            job = self.compute.get_job(job_id)
        except WorkspaceError:
            # run-now answers 400, not get's 404, for a job that does not exist
            raise HttpError(400, "INVALID_PARAMETER_VALUE", f"Job {job_id} does not exist.") from None
        return json_response(self.runs.run_now(job, body))

    def _runs_submit(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise HttpError(400, "MALFORMED_REQUEST", "Request body must be a JSON object")
        return json_response(self.runs.submit(body))

    def _runs_get(self, req: Request) -> Response:
        return json_response(self.runs.get(self._required(req.arg("run_id"), "run_id")))

    def _runs_output(self, req: Request) -> Response:
        return json_response(self.runs.output(self._required(req.arg("run_id"), "run_id")))

    def _runs_cancel(self, req: Request) -> Response:
        self.runs.cancel(self._required(req.json().get("run_id"), "run_id"))
        return json_response({})

    # -- seed and inspection helpers for tests ------------------------------------------------
    def seed_folder(self, path: str) -> None:
        """Create a folder and its parents."""
        self.workspace.mkdirs(path)

    def seed_notebook(self, path: str, source: str | bytes, language: str = "PYTHON") -> WorkspaceObject:
        """Create or overwrite a notebook (parents created); ``source`` with or without header."""
        self.workspace.mkdirs(path.rsplit("/", 1)[0] or "/")
        data = source.encode() if isinstance(source, str) else source
        return self.workspace.import_(ImportRequest(path, data, "SOURCE", language, overwrite=True), user="seed")

    def seed_file(self, path: str, content: str | bytes) -> WorkspaceObject:
        """Create or overwrite a workspace file (parents created)."""
        self.workspace.mkdirs(path.rsplit("/", 1)[0] or "/")
        data = content.encode() if isinstance(content, str) else content
        obj = self.workspace.import_(ImportRequest(path, data, "AUTO", None, overwrite=True), user="seed")
        if obj.object_type != "FILE":
            raise ValueError(f"{path} would be imported as a notebook; use seed_notebook")
        return obj

    def edit_by_hand(self, path: str, content: str | bytes, user: str = "someone@example.com") -> None:
        """Change a notebook or file as a person in the UI would (modified_at moves on): drift."""
        self.workspace.edit_by_hand(path, content, user=user)

    def read_source(self, path: str) -> bytes:
        """What ``export`` in SOURCE format returns (header + body for notebooks)."""
        return self.workspace.export(path, "SOURCE")[0]

    def object(self, path: str) -> WorkspaceObject:
        """The stored object (type, language, content, modified_at, modified_by)."""
        return self.workspace.get(path)

    def exists(self, path: str) -> bool:
        return self.workspace.exists(path)

    def paths(self, under: str = "/") -> list[str]:
        """Every path under ``under`` (inclusive), parents first."""
        return [o.path for o in self.workspace.walk(under)]

    def add_user(self, user_name: str, display_name: str | None = None, emails: list[str] | None = None) -> str:
        """Seed a workspace user (SCIM) with their home folder ``/Users/<user_name>``; returns the id."""
        return self.iam.add_user(user_name, display_name, emails).id

    def add_group(self, name: str) -> None:
        """Seed a workspace group (``admins`` and ``users`` always exist)."""
        self.iam.add_group(name)

    def permissions(self, path: str) -> dict[tuple[str, str], str]:
        """The direct permissions of the object at ``path``: {(principal kind, name): level}."""
        return self.iam.direct(path)

    def add_cluster(self, name: str, **kw: Any) -> str:
        """Seed a cluster (see ComputeState.add_cluster); returns its id."""
        return self.compute.add_cluster(name, **kw)

    def add_warehouse(self, name: str, **kw: Any) -> str:
        """Seed a SQL warehouse (see ComputeState.add_warehouse); returns its id."""
        return self.compute.add_warehouse(name, **kw)

    def add_job(self, name: str, **kw: Any) -> int:
        """Seed a job (see ComputeState.add_job); returns its id."""
        return self.compute.add_job(name, **kw)

    def script_run(self, key: str, *, duration_s: float | None = None, result_state: str = "SUCCESS",
                   output: str | None = None, error: str | None = None, state_message: str = "") -> None:
        """Script the runs of a notebook (workspace path) or a job (``job:<name>``): how long they run,
        how they end (SUCCESS, FAILED, TIMEDOUT ...), their ``dbutils.notebook.exit`` value."""
        self.runs.script(key, RunScript(duration_s, result_state, state_message, output, error))

    def add_policy(self, policy_id: str, name: str, definition: dict[str, Any]) -> None:
        """Seed a cluster policy (``{field: {"type": "fixed"|"allowlist"|"range", ...}}``)."""
        self.runs.add_policy(policy_id, name, definition)

    # -- product wiring -----------------------------------------------------------------------
    def target(self, target_dir: str = "/Shared/dataops", **kw: Any) -> DatabricksTarget:
        """A ``shared.config.DatabricksTarget`` pointing here (token in :meth:`settings`)."""
        from shared.config import DatabricksTarget

        return DatabricksTarget(host=self.url, token_setting=TOKEN_SETTING, target_dir=target_dir, **kw)

    def settings(self, extra: dict[str, str] | None = None) -> Settings:
        """A ``shared.settings.Settings`` holding the token under ``TOKEN_SETTING``."""
        from shared.settings import Settings

        return Settings({TOKEN_SETTING: self.token, **(extra or {})})

    def client(self, **config: Any) -> WorkspaceClient:
        """A WorkspaceClient built the product's way (``shared.databricks.client``), but with the SDK's own
        retry loop (its real clock, 60 s): tests of the stand-in pin what the SDK itself does with its
        answers. The product's clients hand those retries back to their pacer (``shared.databricks.calls``)."""
        from databricks.sdk.clock import RealClock

        from shared.databricks.client import workspace_client

        config.setdefault("clock", RealClock())
        config.setdefault("retry_timeout_seconds", 60)
        return workspace_client(self.target(), self.settings(), **config)


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in in the foreground (benchmarks, ``dataops local up``)."""
    p = argparse.ArgumentParser(prog="python -m devhost.standins.databricks", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", default=None, help="bearer token clients must send (default: random, printed)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency on every API route")
    p.add_argument("--rate-limit", type=float, default=None, help="requests/s on the fault routes (429 beyond)")
    p.add_argument("--burst", type=float, default=None, help="token bucket capacity (default: the rate)")
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of 503s on the fault routes")
    p.add_argument("--fault-routes", default=r"^workspace\.import$",
                   help="regex of route names the rate limit and error rate apply to")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.2, help="seconds a cluster/warehouse transition takes")
    p.add_argument("--user", action="append", default=[], help="seed a workspace user (repeatable)")
    p.add_argument("--group", action="append", default=[], help="seed a workspace group (repeatable)")
    p.add_argument("--run-seconds", type=float, default=1.0, help="seconds an unscripted job run lasts")
    args = p.parse_args(argv)
    standin = DatabricksStandIn(token=args.token, host=args.host, port=args.port, delay_s=args.delay,
                                seed=args.seed, run_s=args.run_seconds)
    for user in args.user:
        standin.add_user(user)
    for group in args.group:
        standin.add_group(group)
    if args.latency_ms > 0:
        standin.faults.add(r"^(workspace|clusters|warehouses|jobs)\.", latency_s=args.latency_ms / 1000)
    if args.rate_limit or args.error_rate:
        standin.faults.add(args.fault_routes, rate_per_s=args.rate_limit, burst=args.burst,
                           error_rate=args.error_rate)
    standin.start()
    # One parseable line for launchers; the token is a local test credential.
    print(f"databricks stand-in listening on {standin.url} token={standin.token}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
