"""Azure Resource Manager + Data Factory stand-in over HTTPS.

Speaks the REST paths ``azure-mgmt-resource-deployments`` (template deployments) and
``azure-mgmt-datafactory`` (factory objects, triggers) use, so both SDKs run unmodified
against it; see ``docs/standin-arm.md`` for the reference.

* HTTPS only when ``ssl_context`` is given (the Azure SDKs refuse bearer tokens over plain
  HTTP); the fixture and ``python -m devhost.standins.arm`` use a ``trustme`` certificate authority.
* ``Authorization: Bearer <token>`` is required: missing → 401 ``AuthenticationFailed``,
  wrong → 401 ``InvalidAuthenticationToken``; ``api-version`` is required (400
  ``MissingApiVersionParameter``). Every answer carries ``x-ms-request-id`` and
  ``x-ms-correlation-request-id`` (the client's, echoed, or a new one).
* Long-running operations (deployments, event subscriptions) answer ``Retry-After-Ms`` so the
  SDK pollers poll fast (azure-core honours it) instead of their 30 s default.
* Time moves lazily: deployments and event subscriptions advance when a request arrives after
  their delay; there is no background thread.
* Faults and per-route counters come from :mod:`devhost.standins.faults` (``.faults``, ``.counters``).
* Pipeline runs (``createRun``, ``pipelineruns`` get/cancel, ``queryActivityruns``) with scripted
  durations and outcomes: :mod:`devhost.standins.arm_runs`.

Run as a process::

    python -m devhost.standins.arm --host 127.0.0.1 --port 8443 --token T --cert-dir DIR
"""

from __future__ import annotations

import argparse
import hmac
import ssl
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .arm_deploy import DeploymentEngine, fetch_url
from .arm_runs import PipelineRuns, PipelineScript
from .arm_state import EVENT_TRIGGER_TYPES, KINDS, AdfError, DataFactory, FactoryStore
from .faults import FaultInjector
from .httpbase import Request, Response, ServedStandIn, StandInServer, json_response

__all__ = ["ArmStandIn", "main"]

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
DEFAULT_RESOURCE_GROUP = "rg-dataops-local"

_RG = r"(?i)/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
_DEPLOY = _RG + r"/providers/Microsoft\.Resources/deployments"
_FACTORIES = _RG + r"/providers/Microsoft\.DataFactory/factories"
_FACTORY = _FACTORIES + r"/(?P<factory>[^/]+)"
_TRIGGER = _FACTORY + r"/triggers/(?P<name>[^/]+)"
_MPE = _FACTORY + r"/managedVirtualNetworks/(?P<vnet>[^/]+)/managedPrivateEndpoints"

# route kind segment in URL -> store kind
_URL_KINDS = {kind: kind for kind in KINDS if kind != "managedprivateendpoints"}


def arm_error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """ARM's error shape for errors raised through httpbase (faults, 404 routes, bad JSON)."""
    return {"error": {"code": code, "message": message, "details": []}}


def _fault_code(code: str, status: int) -> str:
    # faults.py uses Databricks-ish codes; ARM's own names for the same conditions.
    return {429: "TooManyRequests", 503: "ServiceUnavailable", 500: "InternalServerError"}.get(status, code)


class ArmStandIn(ServedStandIn):
    """The stand-in: an HTTPS :class:`StandInServer` over a :class:`FactoryStore` and deployments.

    ``transition_s``: event subscription Provisioning/Deprovisioning time; ``deploy_delay_s``:
    how long a deployment stays Running; ``poll_ms``: the ``Retry-After-Ms`` sent to pollers.
    """

    def __init__(self, *, token: str, ssl_context: ssl.SSLContext | None, host: str = "127.0.0.1",
                 port: int = 0, faults: FaultInjector | None = None, transition_s: float = 0.2,
                 deploy_delay_s: float = 0.2, poll_ms: int = 50, page_size: int = 50,
                 fetch: Callable[[str], Any] = fetch_url, clock: Callable[[], float] | None = None,
                 run_s: float = 0.2) -> None:
        self.token = token
        self.poll_ms = poll_ms
        self.page_size = page_size
        store_kw: dict[str, Any] = {"transition_s": transition_s}
        if clock is not None:
            store_kw["clock"] = clock
        self.store = FactoryStore(**store_kw)
        self.deployments = DeploymentEngine(self.store, deploy_delay_s=deploy_delay_s, fetch=fetch)
        self.pipeline_runs = PipelineRuns(clock=self.store.clock, run_s=run_s)
        self.server = _ArmServer(self, name="arm-standin", host=host, port=port, ssl_context=ssl_context,
                                 faults=faults, error_body=arm_error_body, authenticate=self._authenticate)
        self._register()

    # -- auth ----------------------------------------------------------------------------------------
    def _authenticate(self, req: Request) -> Response | None:
        header = req.header("authorization")
        if not header:
            return _error(AdfError(401, "AuthenticationFailed",
                                   "Authentication failed. The 'Authorization' header is missing."))
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token.encode()):
            return _error(AdfError(401, "InvalidAuthenticationToken", "The access token is invalid."))
        if not req.arg("api-version") and req.route != "triggers.subscriptionOperation":
            return _error(AdfError(400, "MissingApiVersionParameter", "The api-version query parameter "
                                   "(?api-version=) is required for all requests."))
        return None

    # -- routing -----------------------------------------------------------------------------------
    def _register(self) -> None:
        s = self.server

        def add(method: str, pattern: str, handler: Callable[[Request], Response], name: str) -> None:
            s.add_route(method, pattern, self._guard(handler), name)
        add("PUT", _DEPLOY + r"/(?P<name>[^/]+)", self._deployment_put, "deployments.put")
        add("GET", _DEPLOY + r"/(?P<name>[^/]+)", self._deployment_get, "deployments.get")
        add("HEAD", _DEPLOY + r"/(?P<name>[^/]+)", self._deployment_head, "deployments.head")
        add("DELETE", _DEPLOY + r"/(?P<name>[^/]+)", self._deployment_delete, "deployments.delete")
        add("GET", _DEPLOY, self._deployment_list, "deployments.list")
        add("POST", _DEPLOY + r"/(?P<name>[^/]+)/cancel", self._deployment_cancel, "deployments.cancel")
        add("POST", _DEPLOY + r"/(?P<name>[^/]+)/validate", self._deployment_validate, "deployments.validate")
        add("POST", _DEPLOY + r"/(?P<name>[^/]+)/whatIf", self._deployment_what_if, "deployments.whatIf")
        # the SDK lists resource-group deployment operations without the provider segment (as ARM's REST API)
        for base in (_DEPLOY, _RG + r"/deployments"):
            add("GET", base + r"/(?P<name>[^/]+)/operations", self._deployment_operations, "deployments.operations")
        add("GET", _DEPLOY + r"/(?P<name>[^/]+)/operationStatuses/(?P<op>[^/]+)", self._deployment_status,
            "deployments.status")
        add("GET", _FACTORIES, self._factory_list, "factories.list")
        add("GET", r"(?i)/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.DataFactory/factories",
            self._factory_list, "factories.list")
        add("GET", _FACTORY, self._factory_get, "factories.get")
        add("PUT", _FACTORY, self._factory_put, "factories.put")
        add("DELETE", _FACTORY, self._factory_delete, "factories.delete")
        for action in ("start", "stop", "subscribeToEvents", "unsubscribeFromEvents",
                       "getEventSubscriptionStatus"):
            add("POST", _TRIGGER + "/" + action, self._trigger_action(action), f"triggers.{action}")
        add("GET", _TRIGGER + r"/subscriptionOperations/(?P<op>[^/]+)", self._subscription_operation,
            "triggers.subscriptionOperation")
        for url_kind, kind in _URL_KINDS.items():
            base = _FACTORY + "/" + url_kind
            add("GET", base, self._object_list(kind), f"{kind}.list")
            add("GET", base + r"/(?P<name>[^/]+)", self._object_get(kind), f"{kind}.get")
            add("PUT", base + r"/(?P<name>[^/]+)", self._object_put(kind), f"{kind}.put")
            add("DELETE", base + r"/(?P<name>[^/]+)", self._object_delete(kind), f"{kind}.delete")
        add("POST", _FACTORY + r"/pipelines/(?P<name>[^/]+)/createRun", self._create_run, "pipelines.createRun")
        runs = _FACTORY + r"/pipelineruns/(?P<run>[^/]+)"
        add("GET", runs, self._pipeline_run_get, "pipelineruns.get")
        add("POST", runs + r"/cancel", self._pipeline_run_cancel, "pipelineruns.cancel")
        add("POST", runs + r"/queryActivityruns", self._activity_runs, "pipelineruns.queryActivityruns")
        kind = "managedprivateendpoints"
        add("GET", _MPE, self._object_list(kind), f"{kind}.list")
        add("GET", _MPE + r"/(?P<name>[^/]+)", self._object_get(kind), f"{kind}.get")
        add("PUT", _MPE + r"/(?P<name>[^/]+)", self._object_put(kind), f"{kind}.put")
        add("DELETE", _MPE + r"/(?P<name>[^/]+)", self._object_delete(kind), f"{kind}.delete")

    def _guard(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Unquote path values, settle due deployments, hold the lock, render AdfError."""
        def run(req: Request) -> Response:
            req.match = {k: unquote(v) for k, v in req.match.items()}
            with self.store.lock:
                try:
                    self.deployments.settle()
                    return handler(req)
                except AdfError as exc:
                    return _error(exc)
        return run

    def _base(self, req: Request) -> str:
        host = req.header("host") or f"{self.server.host}:{self.server.port}"
        scheme = "https" if self.server.ssl_context is not None else "http"
        return f"{scheme}://{host}"

    def _factory(self, req: Request) -> DataFactory:
        return self.store.get_factory(req.match["sub"], req.match["rg"], req.match["factory"])

    # -- deployments ---------------------------------------------------------------------------------
    def _deployment_put(self, req: Request) -> Response:
        m = req.match
        correlation = req.header("x-ms-correlation-request-id") or str(uuid.uuid4())
        dep = self.deployments.submit(m["sub"], m["rg"], m["name"], req.json(), correlation)
        body = dep.resource()
        body["properties"]["provisioningState"] = "Accepted"
        api = req.arg("api-version") or ""
        status_url = (f"{self._base(req)}/subscriptions/{m['sub']}/resourcegroups/{m['rg']}/providers/"
                      f"Microsoft.Resources/deployments/{m['name']}/operationStatuses/{dep.operation_id}"
                      f"?api-version={api}")
        return json_response(body, 201, {"Azure-AsyncOperation": status_url,
                                         "Retry-After-Ms": str(self.poll_ms),
                                         "x-ms-correlation-request-id": correlation})

    def _deployment_get(self, req: Request) -> Response:
        dep = self.deployments.get(req.match["sub"], req.match["rg"], req.match["name"])
        return json_response(dep.resource(), 200, {"x-ms-correlation-request-id": dep.correlation_id})

    def _deployment_head(self, req: Request) -> Response:
        try:
            self.deployments.get(req.match["sub"], req.match["rg"], req.match["name"])
        except AdfError:
            return Response(404)
        return Response(204)

    def _deployment_delete(self, req: Request) -> Response:
        found = self.deployments.delete(req.match["sub"], req.match["rg"], req.match["name"])
        return Response(202 if found else 204)

    def _deployment_list(self, req: Request) -> Response:
        deps = self.deployments.list(req.match["sub"], req.match["rg"])
        return json_response({"value": [d.resource() for d in deps]})

    def _deployment_cancel(self, req: Request) -> Response:
        self.deployments.cancel(req.match["sub"], req.match["rg"], req.match["name"])
        return Response(204)

    def _deployment_validate(self, req: Request) -> Response:
        return json_response(self.deployments.validate(req.match["sub"], req.match["rg"], req.match["name"],
                                                       req.json()))

    def _deployment_what_if(self, req: Request) -> Response:
        return json_response(self.deployments.what_if(req.match["sub"], req.match["rg"], req.match["name"],
                                                      req.json()))

    def _deployment_operations(self, req: Request) -> Response:
        dep = self.deployments.get(req.match["sub"], req.match["rg"], req.match["name"])
        return json_response({"value": list(dep.operations)})

    def _deployment_status(self, req: Request) -> Response:
        dep = self.deployments.get(req.match["sub"], req.match["rg"], req.match["name"])
        headers = {"x-ms-correlation-request-id": dep.correlation_id}
        if dep.state == "Running":
            headers["Retry-After-Ms"] = str(self.poll_ms)
        return json_response(dep.operation_status(), 200, headers)

    # -- factories -----------------------------------------------------------------------------------
    def _factory_list(self, req: Request) -> Response:
        factories = self.store.list_factories(req.match["sub"], req.match.get("rg"))
        return json_response({"value": [f.resource() for f in factories]})

    def _factory_get(self, req: Request) -> Response:
        return json_response(self._factory(req).resource())

    def _factory_put(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not body.get("location"):
            raise AdfError(400, "LocationRequired", "The location property is required for this definition.")
        m = req.match
        return json_response(self.store.put_factory(m["sub"], m["rg"], m["factory"], body).resource())

    def _factory_delete(self, req: Request) -> Response:
        found = self.store.delete_factory(req.match["sub"], req.match["rg"], req.match["factory"])
        return Response(200 if found else 204)

    # -- objects -------------------------------------------------------------------------------------
    def _object_list(self, kind: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            factory = self._factory(req)
            objs = self.store.list_objects(factory, kind, req.match.get("vnet"))
            start = int(req.arg("$skipToken") or 0)
            page = objs[start:start + self.page_size]
            body: dict[str, Any] = {"value": [self.store.render(factory, o) for o in page]}
            if start + self.page_size < len(objs):
                api = req.arg("api-version") or ""
                body["nextLink"] = (f"{self._base(req)}{req.path}?api-version={api}"
                                    f"&$skipToken={start + self.page_size}")
            return json_response(body)
        return handler

    def _object_get(self, kind: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            factory = self._factory(req)
            obj = self.store.get_object(factory, kind, req.match["name"], req.match.get("vnet"))
            return json_response(self.store.render(factory, obj))
        return handler

    def _object_put(self, kind: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            factory = self._factory(req)
            body = req.json()
            props = body.get("properties") if isinstance(body, dict) else None
            obj = self.store.put_object(factory, kind, req.match["name"], props, req.match.get("vnet"))
            return json_response(self.store.render(factory, obj))
        return handler

    def _object_delete(self, kind: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            factory = self._factory(req)
            found = self.store.delete_object(factory, kind, req.match["name"], req.match.get("vnet"))
            return Response(200 if found else 204)
        return handler

    # -- triggers ------------------------------------------------------------------------------------
    # -- pipeline runs -------------------------------------------------------------------------------
    def _create_run(self, req: Request) -> Response:
        factory = self._factory(req)
        pipeline = self.store.get_object(factory, "pipelines", req.match["name"])
        run_id = self.pipeline_runs.create(factory.id, pipeline.name, pipeline.properties or {}, req.json())
        return json_response({"runId": run_id})

    def _pipeline_run_get(self, req: Request) -> Response:
        return json_response(self.pipeline_runs.get(self._factory(req).id, req.match["run"]))

    def _pipeline_run_cancel(self, req: Request) -> Response:
        self.pipeline_runs.cancel(self._factory(req).id, req.match["run"])
        return Response(200, b"", "application/json")

    def _activity_runs(self, req: Request) -> Response:
        return json_response(self.pipeline_runs.activity_runs(self._factory(req).id, req.match["run"], req.json()))

    def script_pipeline(self, pipeline: str, *, duration_s: float | None = None, status: str = "Succeeded",
                        failed_activity: str | None = None, message: str | None = None) -> None:
        """Script the runs of ``pipeline`` (any factory): how long they run and how they end."""
        with self.store.lock:
            script = PipelineScript(duration_s, status, failed_activity)
            if message is not None:
                script = PipelineScript(duration_s, status, failed_activity, message=message)
            self.pipeline_runs.scripts[pipeline.lower()] = script

    def _trigger_action(self, action: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            factory = self._factory(req)
            trigger = self.store.get_object(factory, "triggers", req.match["name"])
            if action in ("start", "stop"):
                self.store.start_or_stop(factory, trigger, action == "start")
                return Response(200, b"")
            status_body = {"triggerName": trigger.name, "status": self.store.subscription_status(trigger)}
            if action == "getEventSubscriptionStatus":
                return json_response(status_body)
            if trigger.properties.get("type") not in EVENT_TRIGGER_TYPES:
                raise AdfError(400, "BadRequest", f"Trigger '{trigger.name}' is not an event trigger; "
                               "only event triggers have event subscriptions.")
            status = self.store.change_subscription(trigger, action == "subscribeToEvents")
            if status in ("Enabled", "Disabled"):
                return json_response({"triggerName": trigger.name, "status": status})
            op_url = (f"{self._base(req)}{req.path.rsplit('/', 1)[0]}/subscriptionOperations/"
                      f"{uuid.uuid4().hex}?api-version={req.arg('api-version') or ''}")
            return Response(202, b"", headers={"Location": op_url, "Retry-After-Ms": str(self.poll_ms)})
        return handler

    def _subscription_operation(self, req: Request) -> Response:
        factory = self._factory(req)
        trigger = self.store.get_object(factory, "triggers", req.match["name"])
        status = self.store.subscription_status(trigger)
        if status in ("Provisioning", "Deprovisioning"):
            return Response(202, b"", headers={"Location": f"{self._base(req)}{req.path}?api-version="
                                               f"{req.arg('api-version') or ''}",
                                               "Retry-After-Ms": str(self.poll_ms)})
        return json_response({"triggerName": trigger.name, "status": status})

    # -- seed / inspection helpers (tests, benchmarks) ----------------------------------------------
    def create_factory(self, name: str, *, subscription_id: str = DEFAULT_SUBSCRIPTION,
                       resource_group: str = DEFAULT_RESOURCE_GROUP, location: str = "westeurope") -> DataFactory:
        """Create (or reset the body of) a factory directly in the store."""
        with self.store.lock:
            return self.store.put_factory(subscription_id, resource_group, name, {"location": location})

    def factory(self, name: str, *, subscription_id: str = DEFAULT_SUBSCRIPTION,
                resource_group: str = DEFAULT_RESOURCE_GROUP) -> DataFactory:
        with self.store.lock:
            return self.store.get_factory(subscription_id, resource_group, name)

    def put_object(self, factory: str | DataFactory, kind: str, name: str, properties: dict[str, Any], *,
                   parent: str | None = None, runtime_state: str | None = None) -> dict[str, Any]:
        """Create/update an object with the REST rules; ``runtime_state`` sets a trigger's state."""
        with self.store.lock:
            f = self._resolve(factory)
            obj = self.store.put_object(f, kind.lower(), name, properties, parent)
            if runtime_state is not None:
                obj.runtime_state = runtime_state
            return self.store.render(f, obj)

    def get_object(self, factory: str | DataFactory, kind: str, name: str, *,
                   parent: str | None = None) -> dict[str, Any] | None:
        """The object as the REST API renders it, or None."""
        with self.store.lock:
            self.deployments.settle()
            f = self._resolve(factory)
            try:
                return self.store.render(f, self.store.get_object(f, kind.lower(), name, parent))
            except AdfError:
                return None

    def names(self, factory: str | DataFactory, kind: str) -> list[str]:
        """Names of a factory's objects of ``kind`` (sorted, case-insensitively)."""
        with self.store.lock:
            self.deployments.settle()
            f = self._resolve(factory)
            return [o.name for o in f.objects[kind.lower()].values()]

    def set_trigger_state(self, factory: str | DataFactory, name: str, state: str) -> None:
        with self.store.lock:
            self.store.set_trigger_state(self._resolve(factory), name, state)

    def trigger_state(self, factory: str | DataFactory, name: str) -> str:
        with self.store.lock:
            return self.store.get_object(self._resolve(factory), "triggers", name).runtime_state

    def fail_object(self, factory: str, kind: str, name: str, code: str = "BadRequest",
                    message: str = "Injected failure for this object") -> None:
        """Make every PUT (REST or deployment) of this object fail with ``code``/``message``."""
        with self.store.lock:
            self.store.failing_objects[(factory.lower(), kind.lower(), name.lower())] = (code, message)

    def slow_deployment(self, name_pattern: str, seconds: float) -> None:
        """Deployments whose name fully matches ``name_pattern`` stay Running for ``seconds``."""
        with self.store.lock:
            self.deployments.durations[name_pattern] = seconds

    def conflict_trigger(self, factory: str, name: str, times: int = 1) -> None:
        """The next ``times`` starts/stops of this trigger answer ADF's provisioning conflict (400)."""
        with self.store.lock:
            self.store.provisioning_conflicts[(factory.lower(), name.lower())] = times

    def subscription_status(self, factory: str | DataFactory, name: str) -> str:
        """An event trigger's subscription status, as getEventSubscriptionStatus answers it."""
        with self.store.lock:
            return self.store.subscription_status(self.store.get_object(self._resolve(factory), "triggers", name))

    def fail_deployment(self, name_pattern: str, code: str = "InternalServerError",
                        message: str = "Injected deployment failure") -> None:
        """Make deployments whose name fully matches ``name_pattern`` end Failed."""
        with self.store.lock:
            self.deployments.failing_deployments[name_pattern] = (code, message)

    def _resolve(self, factory: str | DataFactory) -> DataFactory:
        if isinstance(factory, DataFactory):
            return factory
        matches = [f for f in self.store.factories.values() if f.name.lower() == factory.lower()]
        if len(matches) != 1:
            raise KeyError(f"factory {factory!r}: {len(matches)} matches")
        return matches[0]


class _ArmServer(StandInServer):
    """StandInServer adding ARM's request/correlation id headers and error codes to every answer."""

    def __init__(self, standin: ArmStandIn, **kw: Any) -> None:
        super().__init__(**kw)
        self.arm = standin

    def fault_response(self, fault: Any) -> Response:
        return self.error(fault.status, _fault_code(fault.code, fault.status), fault.message, fault.headers)

    def handle(self, req: Request) -> Response:
        response = super().handle(req)
        response.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        response.headers.setdefault("x-ms-correlation-request-id",
                                    req.header("x-ms-correlation-request-id") or str(uuid.uuid4()))
        return response


def _error(exc: AdfError) -> Response:
    return json_response(exc.body(), exc.status)


# -- process entry point ---------------------------------------------------------------------------

def server_ssl_context(ca: Any, hosts: list[str]) -> ssl.SSLContext:
    """A server-side TLS context with a leaf certificate for ``hosts`` issued by trustme ``ca``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(ctx)
    return ctx


def main(argv: list[str] | None = None) -> int:
    """``python -m devhost.standins.arm``: serve until interrupted; prints the URL and CA path."""
    import trustme

    from .faults import FaultInjector

    p = argparse.ArgumentParser(prog="python -m devhost.standins.arm", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", required=True, help="the bearer token clients must send")
    p.add_argument("--cert-dir", required=True, help="directory where ca.pem is written")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency on every route")
    p.add_argument("--rate-per-s", type=float, default=None, help="token bucket rate (429 beyond)")
    p.add_argument("--burst", type=float, default=None)
    p.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests failing 500/503")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--transition-s", type=float, default=0.2)
    p.add_argument("--deploy-delay-s", type=float, default=0.2)
    p.add_argument("--run-seconds", type=float, default=1.0, help="seconds a pipeline run lasts")
    p.add_argument("--factory", action="append", default=[], help="create this factory at start "
                   f"(subscription {DEFAULT_SUBSCRIPTION}, resource group {DEFAULT_RESOURCE_GROUP})")
    args = p.parse_args(argv)

    ca = trustme.CA()
    cert_dir = Path(args.cert_dir)
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca_path = cert_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    hosts = sorted({"127.0.0.1", "localhost", args.host} - {"0.0.0.0", "::"})
    faults = FaultInjector(seed=args.seed)
    if args.latency_ms or args.rate_per_s or args.error_rate:
        faults.add(".*", latency_s=args.latency_ms / 1000.0, rate_per_s=args.rate_per_s, burst=args.burst,
                   error_rate=args.error_rate, error_statuses=(500, 503))
    standin = ArmStandIn(token=args.token, ssl_context=server_ssl_context(ca, hosts), host=args.host,
                         port=args.port, faults=faults, transition_s=args.transition_s,
                         deploy_delay_s=args.deploy_delay_s, run_s=args.run_seconds)
    for name in args.factory:
        standin.create_factory(name)
    standin.start()
    print(f"ARM stand-in listening on {standin.url} (CA bundle: {ca_path})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
