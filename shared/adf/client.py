"""FactoryClient: the live factory as plain JSON dicts, over the Azure management SDKs.

Everything the deployer and the schedules need from Data Factory and ARM, with
REST-shaped dicts in and out (the SDK's models are JSON mappings, so nothing
the service returns is lost before we compare it with a template).

Throttling: azure-core's retry policy honours ``Retry-After`` on 429 and
retries 5xx; long-running operations (trigger start/stop, event
(un)subscription, template deployments) are waited for with a bound.
The SDKs are imported when a client is built, never at module import.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import telemetry
from ..errors import NotFound, TargetFailed, Unavailable
from ..settings import Settings
from ..timeouts import timeouts_of, unreachable_error
from . import arm

if TYPE_CHECKING:
    from ..config import DataFactoryTarget
    from .deployments import ArmDeployments

log = logging.getLogger(__name__)
DATAFACTORY_API = "2018-06-01"  # the Data Factory REST API version (the SDK's)


@dataclass(frozen=True)
class ObjectKind:
    """One kind of factory object: its ARM child type and the SDK operations group."""

    object_type: str
    arm_type: str  # after "Microsoft.DataFactory/factories/"
    operations: str  # attribute of DataFactoryManagementClient
    deletable: bool = True
    optional: bool = False  # an older service (or stand-in) without this kind answers 404: none of them


# Keyed by our object_type; arm_type is matched case-insensitively.
OBJECT_KINDS: dict[str, ObjectKind] = {k.object_type: k for k in (
    ObjectKind("trigger", "triggers", "triggers"),
    ObjectKind("pipeline", "pipelines", "pipelines"),
    ObjectKind("dataflow", "dataflows", "data_flows"),
    ObjectKind("dataset", "datasets", "datasets"),
    ObjectKind("linkedService", "linkedServices", "linked_services"),
    ObjectKind("integrationRuntime", "integrationRuntimes", "integration_runtimes"),
    ObjectKind("managedVirtualNetwork", "managedVirtualNetworks", "managed_virtual_networks", deletable=False),
    ObjectKind("managedPrivateEndpoint", "managedVirtualNetworks/managedPrivateEndpoints",
               "managed_private_endpoints"),
    ObjectKind("globalParameter", "globalparameters", "global_parameters", optional=True),
    ObjectKind("credential", "credentials", "credential_operations", optional=True),
    ObjectKind("changeDataCapture", "adfcdcs", "change_data_capture", optional=True),
)}
_BY_ARM_TYPE = {k.arm_type.lower(): k for k in OBJECT_KINDS.values()}


def kind_of_arm_type(resource_type: str) -> ObjectKind | None:
    """``Microsoft.DataFactory/factories/pipelines`` -> the pipeline kind (None for the factory itself)."""
    prefix = "microsoft.datafactory/factories/"
    t = resource_type.lower()
    return _BY_ARM_TYPE.get(t[len(prefix):]) if t.startswith(prefix) else None


PROVISIONING_CONFLICT = "cannot be updated during provisioning"


class FactoryOperationError(TargetFailed):
    """A factory or ARM call failed; ``details`` carries ARM's code, message and correlation id."""

    code = "factory_operation_failed"


class FactoryObjectNotFound(NotFound, FactoryOperationError):
    """A factory object the call needed does not exist."""


def error_details(exc: BaseException) -> dict[str, Any]:
    """ARM error code/message/details and the correlation id of a failed call (no secrets in it)."""
    out: dict[str, Any] = {"message": str(exc).splitlines()[0][:1000] if str(exc) else type(exc).__name__}
    resp = getattr(exc, "response", None)
    if resp is not None:
        headers = getattr(resp, "headers", {}) or {}
        out["status_code"] = getattr(resp, "status_code", None)
        for h, key in (("x-ms-correlation-request-id", "correlation_id"), ("x-ms-request-id", "request_id")):
            if headers.get(h):
                out[key] = headers[h]
        try:
            body = resp.json()
        except Exception:  # not JSON: keep the message only
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            out["code"] = err.get("code")
            out["message"] = str(err.get("message") or out["message"])[:2000]
            if err.get("details"):
                out["details"] = err["details"]
    if "code" not in out:
        code = getattr(getattr(exc, "error", None), "code", None)
        if code:
            out["code"] = code
    return out


def _plain(value: Any) -> Any:
    """An SDK model (a JSON mapping) as a plain dict."""
    if value is None:
        return None
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if callable(as_dict) else value


class FactoryClient:
    """One environment's factory (and its resource group's ARM deployments)."""

    def __init__(self, target: DataFactoryTarget, settings: Settings, credential: Any = None, *,
                 lro_timeout: float = 600.0, poll_interval: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, **client_extra: Any) -> None:
        from .throttle import ThrottleBudgetPolicy

        self.target = target
        self.rg, self.factory = target.resource_group, target.factory_name
        self.lro_timeout, self.poll_interval = lro_timeout, poll_interval
        self.deployment_timeout = float(target.deployment_timeout)
        self._sleep, self._monotonic = sleep, monotonic
        self._arm: ArmDeployments | None = None
        # 429/5xx retried within a time budget per call (Retry-After honoured), not a count
        limits = timeouts_of(target)
        self.timeouts = limits.of("arm")
        self.throttle = ThrottleBudgetPolicy(float(target.throttle_budget), sleep=sleep, monotonic=monotonic,
                                             max_unreachable=limits.unreachable_retries)
        # polling_interval: used by LROs when the service sends no Retry-After; every request waits at most
        # timeouts.arm connect/read seconds (azure-core's own default is 300 s each)
        extra = {"polling_interval": poll_interval, "retry_policy": self.throttle,
                 "connection_timeout": self.timeouts[0], "read_timeout": self.timeouts[1], **client_extra}
        # connection pool sized for parallel waves (urllib3 keeps 10 by default)
        if "session" not in extra:
            import requests

            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(10, target.max_parallel * 2))
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            extra["session"] = session
        self.df = arm.factory_client(target, settings, credential, **extra)
        self._deployments: Any = None
        self._settings, self._credential, self._extra = settings, credential, extra

    # ----------------------------------------------------------------- triggers
    def list_triggers(self) -> list[dict[str, Any]]:
        """Every trigger: name, type, runtimeState, properties (annotations included)."""
        out = []
        for t in self._call(self.df.triggers.list_by_factory, self.rg, self.factory):
            d = _plain(t)
            props = d.get("properties") or {}
            out.append({"name": d.get("name"), "type": props.get("type"),
                        "runtimeState": props.get("runtimeState"), "properties": props})
        return out

    def get_trigger(self, name: str) -> dict[str, Any] | None:
        """One trigger as listed by :meth:`list_triggers`, or None when it does not exist."""
        d = self.get_object("trigger", name)
        if d is None:
            return None
        props = d.get("properties") or {}
        return {"name": d.get("name", name), "type": props.get("type"),
                "runtimeState": props.get("runtimeState"), "properties": props}

    def start_trigger(self, name: str) -> None:
        """Start a trigger and wait (bounded) for the long-running operation (provisioning conflicts retried)."""
        with telemetry.counted("trigger_changes", action="start"):
            self._retry_provisioning(lambda: self._wait(self._call(self.df.triggers.begin_start, self.rg,
                                                                   self.factory, name), f"start {name}"), name)

    def stop_trigger(self, name: str) -> None:
        """Stop a trigger and wait (bounded) for the long-running operation (provisioning conflicts retried)."""
        with telemetry.counted("trigger_changes", action="stop"):
            self._retry_provisioning(lambda: self._wait(self._call(self.df.triggers.begin_stop, self.rg,
                                                                   self.factory, name), f"stop {name}"), name)

    def _retry_provisioning(self, fn: Callable[[], Any], name: str) -> None:
        """ADF answers 400 "Resource cannot be updated during provisioning" while an event trigger's
        subscription is changing: back off (1 s doubling, capped at 30 s) and retry for ``lro_timeout``."""
        deadline, wait = self._monotonic() + self.lro_timeout, 1.0
        while True:
            try:
                fn()
                return
            except FactoryOperationError as exc:
                if PROVISIONING_CONFLICT not in str(exc).lower() or self._monotonic() + wait > deadline:
                    raise
            log.info("trigger %s is provisioning; retrying in %.0fs", name, wait)
            self._sleep(wait)
            wait = min(30.0, wait * 2)

    def event_subscription_status(self, name: str) -> str:
        """Enabled | Provisioning | Deprovisioning | Disabled | Unknown."""
        st = _plain(self._call(self.df.triggers.get_event_subscription_status, self.rg, self.factory, name))
        return str((st or {}).get("status") or "Unknown")

    def unsubscribe_trigger(self, name: str, timeout: float = 120.0) -> str:
        """Unsubscribe an event trigger from events and poll until ``Disabled`` (bounded)."""
        st = _plain(self._wait(self._call(self.df.triggers.begin_unsubscribe_from_events, self.rg,
                                          self.factory, name), f"unsubscribe {name}"))
        return self._poll_status(name, "Disabled", (st or {}).get("status"), timeout)

    def subscribe_trigger(self, name: str, timeout: float = 120.0) -> str:
        """Subscribe an event trigger to events and poll until ``Enabled`` (bounded)."""
        st = _plain(self._wait(self._call(self.df.triggers.begin_subscribe_to_events, self.rg,
                                          self.factory, name), f"subscribe {name}"))
        return self._poll_status(name, "Enabled", (st or {}).get("status"), timeout)

    def _poll_status(self, name: str, want: str, status: Any, timeout: float) -> str:
        deadline = self._monotonic() + timeout
        while status != want:
            if self._monotonic() > deadline:
                raise FactoryOperationError(f"event subscription of trigger {name} is {status}, not {want}, "
                                            f"after {timeout:.0f}s", code="event_subscription_timeout",
                                            details={"trigger": name, "status": status})
            self._sleep(self.poll_interval)
            status = self.event_subscription_status(name)
        return want

    # ------------------------------------------------------------------ objects
    def _ops(self, object_type: str) -> tuple[ObjectKind, Any]:
        kind = OBJECT_KINDS[object_type]
        return kind, getattr(self.df, kind.operations)

    @staticmethod
    def _split(object_type: str, name: str) -> list[str]:
        # managed private endpoints are named "<managed vnet>/<endpoint>"
        return name.split("/", 1) if object_type == "managedPrivateEndpoint" else [name]

    def list_objects(self, object_type: str) -> list[dict[str, Any]]:
        """Every object of a type as REST JSON ({name, properties, ...}); endpoint names are ``vnet/name``.

        Read page by page (``nextLink``) as the service returns it, through the SDK's pipeline (auth,
        retries) without model round trips: nothing the service sends is lost before it is compared, and
        a large factory lists fast.
        """
        kind = OBJECT_KINDS[object_type]
        if object_type == "managedPrivateEndpoint":
            out = []
            for vnet in self.list_objects("managedVirtualNetwork"):
                for d in self._list_raw(f"managedVirtualNetworks/{quote(vnet['name'], safe='')}"
                                        "/managedPrivateEndpoints"):
                    d["name"] = f"{vnet['name']}/{d.get('name')}"
                    out.append(d)
            return out
        try:
            return self._list_raw(kind.arm_type)
        except FactoryOperationError as exc:
            if exc.code == "not_found" and kind.optional:
                return []
            raise

    def _list_raw(self, collection: str) -> list[dict[str, Any]]:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        url: str | None = (f"/subscriptions/{quote(self.target.subscription_id, safe='')}/resourceGroups/"
                           f"{quote(self.rg, safe='')}/providers/Microsoft.DataFactory/factories/"
                           f"{quote(self.factory, safe='')}/{collection}?api-version={DATAFACTORY_API}")
        out: list[dict[str, Any]] = []
        while url:
            try:
                resp = self.df.send_request(HttpRequest("GET", url))
                resp.raise_for_status()
            except (ServiceRequestError, ServiceResponseError) as exc:
                raise self._unreachable(exc) from None
            except HttpResponseError as exc:
                details = error_details(exc)
                code = "not_found" if details.get("status_code") == 404 else None
                raise FactoryOperationError(f"list {collection} failed: {details.get('code') or ''} "
                                            f"{details.get('message')}".strip(), code=code, details=details) from None
            body = resp.json() or {}
            out.extend(v for v in body.get("value") or [] if isinstance(v, dict))
            url = body.get("nextLink")
        return out

    def list_all(self) -> dict[str, list[dict[str, Any]]]:
        """The whole factory: object_type -> objects."""
        return {t: self.list_objects(t) for t in OBJECT_KINDS}

    def get_object(self, object_type: str, name: str) -> dict[str, Any] | None:
        """One object as REST JSON, or None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        _, ops = self._ops(object_type)
        try:
            return _plain(self._call(ops.get, self.rg, self.factory, *self._split(object_type, name),
                                     raise_not_found=True))
        except ResourceNotFoundError:
            return None

    def put_object(self, object_type: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update one object from its REST body ({"properties": ...})."""
        _, ops = self._ops(object_type)
        return _plain(self._call(ops.create_or_update, self.rg, self.factory,
                                 *self._split(object_type, name), body)) or {}

    def delete_object(self, object_type: str, name: str) -> None:
        """Delete one object (absent already counts as deleted)."""
        kind, ops = self._ops(object_type)
        if not kind.deletable:
            raise FactoryOperationError(f"{object_type} {name} cannot be deleted through the API",
                                        code="not_deletable")
        self._call(ops.delete, self.rg, self.factory, *self._split(object_type, name))

    # -------------------------------------------------------------- deployments
    @property
    def deployments(self) -> Any:
        if self._deployments is None:
            self._deployments = arm.deployments_client(self.target, self._settings, self._credential,
                                                       **self._extra)
        return self._deployments

    @property
    def arm(self) -> ArmDeployments:
        """Preflight, deploy (to a terminal state, cancelled past ``deployment_timeout``), failed resources."""
        if self._arm is None:
            from .deployments import ArmDeployments

            self._arm = ArmDeployments(self.deployments, self.rg, poll_interval=self.poll_interval,
                                       sleep=self._sleep, monotonic=self._monotonic, error_details=error_details)
        return self._arm

    def validate_template(self, name: str, template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        """ARM's preflight of the deployment; raises ``invalid_deployment`` with ARM's message when refused."""
        return self._unreachable_as_unavailable(lambda: self.arm.validate(name, template, parameters))

    def deploy_template(self, name: str, template: dict[str, Any],
                        parameters: dict[str, Any]) -> dict[str, Any]:
        """Incremental ARM deployment of ``template`` with ``parameters`` ({name: {"value": v}}), waited for
        to a terminal state (bounded by ``deployment_timeout``: then cancelled and waited for).

        Raises :class:`~shared.adf.deployments.DeploymentError` with ARM's code, message, state, the
        resources ARM failed on and the correlation id when the deployment does not succeed.
        """
        return self._unreachable_as_unavailable(
            lambda: self.arm.deploy(name, template, parameters, timeout=self.deployment_timeout))

    def _unreachable(self, exc: BaseException) -> Unavailable:
        """ARM could not be reached (after the retry policy's tries): one line naming it."""
        return unreachable_error("arm", self.target.arm_endpoint, exc, timeouts=self.timeouts)

    def _unreachable_as_unavailable(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError

        try:
            return fn()
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise self._unreachable(exc) from None

    # ------------------------------------------------------------------ helpers
    def _call(self, fn: Callable[..., Any], *args: Any, raise_not_found: bool = False) -> Any:
        """Call the SDK; turn transport failures into Unavailable and HTTP errors into FactoryOperationError."""
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            result = fn(*args)
            # paged results are lazy: materialise them here so errors surface here
            if hasattr(result, "by_page"):
                result = list(result)
            return result
        except ResourceNotFoundError as exc:
            if raise_not_found:
                raise
            if fn.__name__ == "delete":
                return None
            raise FactoryObjectNotFound(f"{fn.__name__} {'/'.join(map(str, args[2:]))}: not found",
                                        code="not_found", details=error_details(exc)) from None
        except HttpResponseError as exc:
            details = error_details(exc)
            raise FactoryOperationError(f"{fn.__name__} {'/'.join(map(str, args[2:3]))} failed: "
                                        f"{details.get('code') or ''} {details.get('message')}".strip(),
                                        details=details) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise self._unreachable(exc) from None

    def _wait(self, poller: Any, what: str) -> Any:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

        try:
            result = poller.result(timeout=self.lro_timeout)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise self._unreachable(exc) from None
        except HttpResponseError as exc:
            details = error_details(exc)
            raise FactoryOperationError(f"{what} failed: {details.get('code') or ''} "
                                        f"{details.get('message')}".strip(), details=details) from None
        if not poller.done():
            raise FactoryOperationError(f"{what}: not finished after {self.lro_timeout:.0f}s",
                                        code="operation_timeout")
        return result
