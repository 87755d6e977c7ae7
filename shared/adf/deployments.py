"""ARM template deployments: preflight, submit, poll to a terminal state, cancel on timeout.

* :meth:`ArmDeployments.validate` — ARM's own preflight (``POST .../validate``):
  an invalid template or parameter is refused with ARM's code and message
  before anything changes.
* :meth:`ArmDeployments.deploy` — ``PUT`` the deployment, then read the
  deployment resource until its ``provisioningState`` is terminal
  (``Succeeded``, ``Failed``, ``Canceled``). A ``Running`` (or ``Accepted``)
  deployment is never reported finished. Past ``timeout`` the deployment is
  cancelled, and waited for until it has stopped, before the caller is told
  (``arm_deployment_timeout``, with ARM's final state): nothing downstream
  (trigger restarts, deletes) runs while ARM may still be deploying.
* A ``PUT`` whose answer was lost (connection reset after ARM accepted it) is sent again by the
  client's retry policy; ARM answers ``409 DeploymentActive`` to a second PUT of a running
  deployment of the same name, which is this one (the name is environment + commit, under the
  environment's ``adf`` lock): it is waited for, not reported failed.
* A failed deployment's error carries which resources ARM failed on (from the
  deployment operations), ARM's code and message, and the correlation id.

Polls back off (from 0.1 s, growing by half each time to ``max_poll_s``): a
long deployment is not read every second. ``sleep``/``monotonic`` are injected.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import BadRequest, DataOpsError

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Succeeded", "Failed", "Canceled"})


class DeploymentError(DataOpsError):
    """An ARM deployment that did not succeed; ``details`` has ARM's code, message, state, failed resources."""

    code = "arm_deployment_failed"
    resources: list[dict[str, Any]] = []  # per-resource results from the deployment operations


class PreflightRefused(BadRequest):
    """ARM's preflight validation refused the template or its parameters (nothing was changed)."""

    code = "invalid_deployment"


def _plain(value: Any) -> Any:
    as_dict = getattr(value, "as_dict", None)
    return as_dict() if callable(as_dict) else value


class ArmDeployments:
    """Resource-group deployments through ``azure.mgmt.resource.deployments`` (an injected client)."""

    def __init__(self, client: Any, resource_group: str, *, poll_interval: float = 1.0, max_poll_s: float = 15.0,
                 cancel_timeout: float = 300.0, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 error_details: Callable[[BaseException], dict[str, Any]]) -> None:
        self.client, self.rg = client, resource_group
        self.poll_interval, self.max_poll_s, self.cancel_timeout = poll_interval, max_poll_s, cancel_timeout
        self._sleep, self._monotonic, self._error_details = sleep, monotonic, error_details

    @staticmethod
    def body(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        return {"properties": {"mode": "Incremental", "template": template, "parameters": parameters}}

    # --------------------------------------------------------------- preflight
    def validate(self, name: str, template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
        """ARM's preflight validation; raises :class:`PreflightRefused` (``invalid_deployment``) when refused."""
        from azure.core.exceptions import HttpResponseError

        try:
            poller = self.client.deployments.begin_validate(self.rg, name, self.body(template, parameters))
            result = _plain(poller.result(timeout=self.cancel_timeout)) or {}
        except HttpResponseError as exc:
            details = self._error_details(exc)
            raise PreflightRefused(f"ARM refused deployment {name} in preflight: {details.get('code') or ''} "
                                   f"{details.get('message')}".strip(), details=details) from None
        err = (result.get("properties") or {}).get("error") or result.get("error")
        if err:
            raise PreflightRefused(f"ARM refused deployment {name} in preflight: {err.get('code')} "
                                   f"{err.get('message')}",
                                   details={k: err.get(k) for k in ("code", "message", "details") if err.get(k)})
        return result

    def what_if(self, name: str, template: dict[str, Any], parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """ARM's what-if of the deployment: ``[{resource_id, change_type}]`` (raises HttpResponseError)."""
        poller = self.client.deployments.begin_what_if(self.rg, name, self.body(template, parameters))
        result = _plain(poller.result(timeout=self.cancel_timeout)) or {}
        changes = ((result.get("properties") or {}).get("changes")) or []
        return [{"resource_id": c.get("resourceId"), "change_type": c.get("changeType")} for c in changes]

    # ------------------------------------------------------------------ deploy
    def deploy(self, name: str, template: dict[str, Any], parameters: dict[str, Any], *,
               timeout: float) -> dict[str, Any]:
        """Deploy and wait for a terminal state; returns the state, correlation id and duration."""
        from azure.core.exceptions import HttpResponseError

        deadline = self._monotonic() + timeout
        try:
            self.client.deployments.begin_create_or_update(self.rg, name, self.body(template, parameters),
                                                           polling=False)
        except HttpResponseError as exc:
            details = self._error_details(exc)
            if details.get("code") == "DeploymentActive" and self._ours_running(name):
                # Our PUT reached ARM but its answer was lost (a connection reset) and the client sent it
                # again: ARM refuses a second PUT of a running deployment. The running one is this very
                # deployment (its name is environment + commit, and the environment's adf lock is ours):
                # wait for it like any other.
                log.warning("deployment %s is already running (a retried PUT): waiting for it", name)
            else:
                raise DeploymentError(f"ARM deployment {name} failed: {details.get('code') or ''} "
                                      f"{details.get('message')}".strip(), details=details) from None
        props = self._wait_terminal(name, deadline)
        if props is None:
            props = self._cancel(name, timeout)
        state = props.get("provisioningState")
        if state != "Succeeded":
            self._raise(name, props)
        return {"name": name, "provisioning_state": state, "correlation_id": props.get("correlationId"),
                "duration": props.get("duration")}

    def _ours_running(self, name: str) -> bool:
        try:
            return self._state(name).get("provisioningState") not in TERMINAL
        except Exception:  # unreadable: report the refusal as it was
            return False

    def _state(self, name: str) -> dict[str, Any]:
        return (_plain(self.client.deployments.get(self.rg, name)) or {}).get("properties") or {}

    def _wait_terminal(self, name: str, deadline: float) -> dict[str, Any] | None:
        """The deployment's properties once terminal, or None at the deadline."""
        wait = min(self.poll_interval, 0.1)  # small deployments finish fast; long ones are read less often
        while True:
            props = self._state(name)
            if props.get("provisioningState") in TERMINAL:
                return props
            if self._monotonic() + wait > deadline:
                return None
            self._sleep(wait)
            wait = min(self.max_poll_s, wait * 1.5)

    def _cancel(self, name: str, timeout: float) -> dict[str, Any]:
        """Cancel a deployment past its deadline and wait until ARM has stopped it."""
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.deployments.cancel(self.rg, name)
        except HttpResponseError:  # 409: it reached a terminal state meanwhile; read it below
            pass
        props = self._wait_terminal(name, self._monotonic() + self.cancel_timeout) or self._state(name)
        if props.get("provisioningState") == "Succeeded":
            return props  # it finished in the meantime: that is a success
        self._raise(name, props, timed_out=timeout)
        raise AssertionError("unreachable")

    def _raise(self, name: str, props: dict[str, Any], timed_out: float | None = None) -> None:
        state = props.get("provisioningState")
        err = props.get("error") or {}
        details: dict[str, Any] = {"provisioning_state": state, "correlation_id": props.get("correlationId")}
        details.update({k: err[k] for k in ("code", "message", "details") if err.get(k)})
        resources = self.resource_results(name)
        failed = [r for r in resources if r["state"] == "Failed"]
        if failed:
            details["failed_resources"] = failed[:50]
        if timed_out is not None:
            exc = DeploymentError(f"ARM deployment {name} did not finish within {timed_out:.0f}s; cancelled, "
                                  f"ARM state {state}", code="arm_deployment_timeout", details=details)
        else:
            first = failed[0] if failed else err
            exc = DeploymentError(f"ARM deployment {name} ended {state}: {first.get('code') or ''} "
                                  f"{first.get('message') or ''}".strip(), details=details)
        exc.resources = resources
        raise exc

    def resource_results(self, name: str) -> list[dict[str, Any]]:
        """What ARM did to each resource, from the deployment operations (best effort: [] if unreadable):
        ``{type, name, state, code, message}``."""
        try:
            ops = [_plain(o) for o in self.client.deployment_operations.list(self.rg, name)]
        except Exception:  # the deployment's own error is still reported
            return []
        out = []
        for op in ops:
            p = (op or {}).get("properties") or {}
            target = p.get("targetResource") or {}
            if not target.get("resourceType"):
                continue
            err = (p.get("statusMessage") or {}).get("error") or {}
            out.append({"type": target.get("resourceType"), "name": target.get("resourceName"),
                        "state": p.get("provisioningState"), "code": err.get("code"),
                        "message": str(err.get("message") or "")[:1000]})
        return out
