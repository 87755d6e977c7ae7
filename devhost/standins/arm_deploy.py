"""Template deployments of the ARM stand-in (resource group scope, Incremental mode).

``submit`` validates synchronously, as ARM does before it answers the PUT: the template's
expressions are evaluated (``parameters()``, ``variables()``, ``concat()``, ...), parameters
bound, ``dependsOn`` resolved. Errors there are a 400 ``InvalidTemplate``. The accepted
deployment is ``Running`` until ``deploy_delay_s`` has passed; the next request after that
(``settle``) applies it: resources in dependency order, each through the same
:class:`~devhost.standins.arm_state.FactoryStore` rules as the REST API, resources whose
dependencies failed skipped. Any resource failure makes the deployment ``Failed`` with ARM's
``DeploymentFailed`` error and the per-resource errors in ``details``.

Nested ``Microsoft.Resources/deployments`` resources (ADF's ``ArmTemplate_master.json``) are
deployed with their inline ``template`` or the ``templateLink.uri`` fetched over http(s) (the
``fetch`` callable; a linked template the stand-in cannot fetch fails ``InvalidContentLink``).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .arm_state import AdfError, FactoryStore
from .armtemplate import TemplateContext, TemplateError, evaluate

__all__ = ["Deployment", "DeploymentEngine", "fetch_url"]

_FAILED_MESSAGE = ("At least one resource deployment operation failed. Please list deployment operations "
                   "for details. Please see https://aka.ms/arm-deployment-operations for usage details.")


MAX_RESOURCES, MAX_PARAMETERS, MAX_TEMPLATE_BYTES = 800, 256, 4 * 1024 * 1024


def check_limits(template: Mapping[str, Any]) -> None:
    """ARM's template limits: 800 resources, 256 parameters, 4 MB (checked here on the uncompressed JSON)."""
    n_res = len(template.get("resources") or [])
    if n_res > MAX_RESOURCES:
        raise AdfError(400, "InvalidTemplate", "Deployment template validation failed: 'The number of template "
                       f"resources limit exceeded. Limit: '{MAX_RESOURCES}' and actual: '{n_res}'.'")
    n_par = len(template.get("parameters") or {})
    if n_par > MAX_PARAMETERS:
        raise AdfError(400, "InvalidTemplate", "Deployment template validation failed: 'The number of template "
                       f"parameters limit exceeded. Limit: '{MAX_PARAMETERS}' and actual: '{n_par}'.'")
    size = len(json.dumps(template, separators=(",", ":")).encode())
    if size > MAX_TEMPLATE_BYTES:
        raise AdfError(400, "DeploymentJobSizeExceeded", f"The template size '{size}' bytes exceeds the limit "
                       f"of '{MAX_TEMPLATE_BYTES}' bytes. Please see https://aka.ms/arm-template-limits.")


def fetch_url(uri: str, timeout: float = 10.0) -> Any:
    """GET a linked template (http/https) and parse it as JSON."""
    with urllib.request.urlopen(uri, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8-sig"))


@dataclass
class _Resource:
    key: str  # canonical id: provider/type/name/type/name, lower case
    type: str
    name: str
    body: dict[str, Any]
    depends_on: list[str]


@dataclass
class Deployment:
    """One deployment record, as ``GET .../deployments/{name}`` reports it."""

    subscription_id: str
    resource_group: str
    name: str
    correlation_id: str
    mode: str
    parameters: dict[str, Any]
    resources: list[_Resource]
    due_at: float
    template_hash: str
    operation_id: str = field(default_factory=lambda: uuid.uuid4().hex.upper()[:16])
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    state: str = "Running"
    error: dict[str, Any] | None = None
    output_resources: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    operations: list[dict[str, Any]] = field(default_factory=list)  # one per resource ARM attempted

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.Resources/deployments/{self.name}")

    def resource(self) -> dict[str, Any]:
        """The DeploymentExtended body."""
        end = self.finished_at or time.time()
        props: dict[str, Any] = {
            "provisioningState": self.state,
            "correlationId": self.correlation_id,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(end)) + ".0000000Z",
            "duration": f"PT{max(0.0, end - self.started_at):.3f}S",
            "mode": self.mode,
            "parameters": self.parameters,
            "templateHash": self.template_hash,
            "outputs": self.outputs,
            "outputResources": [{"id": rid} for rid in self.output_resources],
            "dependencies": [],
            "providers": [],
        }
        if self.error is not None:
            props["error"] = self.error
        return {"id": self.id, "name": self.name, "type": "Microsoft.Resources/deployments",
                "properties": props}

    def operation(self, res: _Resource, state: str, error: dict[str, Any] | None, rid: str) -> None:
        """Record one deployment operation (``GET .../deployments/{name}/operations``)."""
        op_id = uuid.uuid4().hex.upper()[:16]
        props: dict[str, Any] = {
            "provisioningOperation": "Create", "provisioningState": state,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".0000000Z",
            "duration": "PT0S", "trackingId": str(uuid.uuid4()), "serviceRequestId": str(uuid.uuid4()),
            "statusCode": "OK" if error is None else "BadRequest",
            "targetResource": {"id": rid, "resourceType": res.type, "resourceName": res.name}}
        if error is not None:
            props["statusMessage"] = {"status": "Failed", "error": error}
        self.operations.append({"id": f"{self.id}/operations/{op_id}", "operationId": op_id, "properties": props})

    def operation_status(self) -> dict[str, Any]:
        """The body of the ``Azure-AsyncOperation`` status URL."""
        body: dict[str, Any] = {"status": self.state}
        if self.error is not None:
            body["error"] = self.error
        return body


def _canonical(rtype: str, name: str) -> str:
    provider, _, types = rtype.partition("/")
    type_parts = types.split("/")
    names = name.split("/")
    if len(type_parts) != len(names):
        raise TemplateError(f"The template resource '{name}' for type '{rtype}' has incorrect segment "
                            f"lengths. A nested resource type must have identical number of segments "
                            f"as its resource name.")
    return (provider + "/" + "/".join(f"{t}/{n}" for t, n in zip(type_parts, names, strict=True))).lower()


def _dependency_key(ref: str, by_key: Mapping[str, _Resource], by_name: Mapping[str, list[str]]) -> str | None:
    value = ref.strip()
    lowered = value.lower()
    m = re.search(r"/providers/(.+)$", lowered)
    if m:
        lowered = m.group(1)
    if lowered in by_key:
        return lowered
    candidates = by_name.get(value.lower(), [])
    return candidates[0] if len(candidates) == 1 else None


class DeploymentEngine:
    """Deployments of one stand-in, applied into a :class:`FactoryStore`."""

    def __init__(self, store: FactoryStore, *, deploy_delay_s: float = 0.2,
                 fetch: Callable[[str], Any] = fetch_url) -> None:
        self.store = store
        self.deploy_delay_s = deploy_delay_s
        self.fetch = fetch
        self.deployments: dict[tuple[str, str, str], Deployment] = {}
        # deployment name regex -> (code, message): such deployments fail when applied
        self.failing_deployments: dict[str, tuple[str, str]] = {}
        # deployment name regex -> seconds: such deployments stay Running that long (else deploy_delay_s)
        self.durations: dict[str, float] = {}
        self._planned: dict[tuple[str, str, str, str], list[_Resource]] = {}  # validate, then PUT: once

    def get(self, sub: str, rg: str, name: str) -> Deployment:
        dep = self.deployments.get((sub.lower(), rg.lower(), name.lower()))
        if dep is None:
            raise AdfError(404, "DeploymentNotFound", f"Deployment '{name}' could not be found.")
        return dep

    def list(self, sub: str, rg: str) -> list[Deployment]:
        return [d for (s, r, _), d in sorted(self.deployments.items()) if s == sub.lower() and r == rg.lower()]

    def delete(self, sub: str, rg: str, name: str) -> bool:
        return self.deployments.pop((sub.lower(), rg.lower(), name.lower()), None) is not None

    def cancel(self, sub: str, rg: str, name: str) -> None:
        """Cancel a running deployment (what it has not applied stays unapplied); 409 when not running."""
        dep = self.get(sub, rg, name)
        if dep.state != "Running":
            raise AdfError(409, "DeploymentCannotBeCancelled", f"The deployment '{name}' cannot be cancelled "
                           f"because it is in '{dep.state}' state. Only deployments in Accepted or Running "
                           "state can be cancelled.")
        dep.state = "Canceled"
        dep.finished_at = time.time()

    def validate(self, sub: str, rg: str, name: str, body: Any) -> dict[str, Any]:
        """What ``POST .../deployments/{name}/validate`` answers for a valid deployment (errors raise)."""
        template, supplied = self._checked(body)
        try:
            resources = self._plan(template, supplied, sub, rg, name)
        except TemplateError as exc:
            raise AdfError(400, exc.code, exc.message) from exc
        return {"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
                "name": name, "type": "Microsoft.Resources/deployments",
                "properties": {"provisioningState": "Succeeded", "mode": "Incremental",
                               "correlationId": str(uuid.uuid4()), "timestamp": time.strftime(
                                   "%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".0000000Z",
                               "validatedResources": [{"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                                                             f"{r.key}"} for r in resources]}}

    def what_if(self, sub: str, rg: str, name: str, body: Any) -> dict[str, Any]:
        """``POST .../whatIf`` (Incremental): for each template resource, Create, Modify or NoChange against
        what the store holds (objects outside the template are not reported: Incremental leaves them)."""
        template, supplied = self._checked(body)
        try:
            resources = self._plan(template, supplied, sub, rg, name)
        except TemplateError as exc:
            raise AdfError(400, exc.code, exc.message) from exc
        changes = []
        for res in resources:
            rid = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{res.type}/{res.name}"
            changes.append({"resourceId": rid, "changeType": self._change_type(sub, rg, res)})
        return {"status": "Succeeded", "properties": {"changes": changes}}

    def _change_type(self, sub: str, rg: str, res: _Resource) -> str:
        rtype, parts = res.type.lower(), res.name.split("/")
        factory = self.store.find_factory(sub, rg, parts[0])
        if rtype == "microsoft.datafactory/factories":
            return "NoChange" if factory is not None else "Create"
        kind = rtype.rsplit("/", 1)[1]
        if factory is None or not rtype.startswith("microsoft.datafactory/factories/") \
                or kind not in factory.objects:
            return "Create"
        parent = parts[1] if kind == "managedprivateendpoints" else None
        key = f"{(parent or '').lower()}/{parts[-1].lower()}" if parent else parts[-1].lower()
        current = factory.objects[kind].get(key)
        if current is None:
            return "Create"
        wanted = {k: v for k, v in (res.body.get("properties") or {}).items() if k != "runtimeState"}
        have = {k: v for k, v in (current.properties or {}).items() if k != "runtimeState"}
        return "NoChange" if wanted == have else "Modify"

    def _checked(self, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The template and parameter values of a deployment body, checked against ARM's limits."""
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            raise AdfError(400, "InvalidRequestContent", "The request content was invalid and could not be "
                           "deserialized: 'Required property 'properties' not found in JSON.'")
        mode = str(props.get("mode") or "")
        if mode.lower() != "incremental":
            raise AdfError(400, "InvalidDeploymentMode" if mode else "InvalidRequestContent",
                           f"The deployment mode '{mode}' is not supported by the local ARM stand-in "
                           "(Incremental only).")
        template = self._template(props)
        check_limits(template)
        return template, self._parameter_values(props)

    # -- submit ---------------------------------------------------------------------------------
    def submit(self, sub: str, rg: str, name: str, body: Any, correlation_id: str) -> Deployment:
        """Validate and accept a deployment (caller holds the store lock and has settled)."""
        key = (sub.lower(), rg.lower(), name.lower())
        current = self.deployments.get(key)
        if current is not None and current.state == "Running":
            raise AdfError(409, "DeploymentActive", f"The deployment with resource id '{current.id}' cannot "
                           "be saved, because this would overwrite an existing deployment which is still "
                           "active. Please see https://aka.ms/arm-deploy for usage details.")
        template, supplied = self._checked(body)
        try:
            resources = self._plan(template, supplied, sub, rg, name)
        except TemplateError as exc:
            raise AdfError(400, exc.code, exc.message) from exc
        shown = {k: {"type": str((template.get("parameters") or {}).get(k, {}).get("type", "String")),
                     "value": v} for k, v in supplied.items()
                 if not str((template.get("parameters") or {}).get(k, {}).get("type", "")).lower()
                 .startswith("secure")}
        delay = next((d for p, d in self.durations.items() if re.fullmatch(p, name, re.IGNORECASE)),
                     self.deploy_delay_s)
        dep = Deployment(sub, rg, name, correlation_id, "Incremental", shown, resources,
                         due_at=self.store.clock() + delay,
                         template_hash=str(abs(hash(json.dumps(template, sort_keys=True))) % 10**19))
        self.deployments[key] = dep
        return dep

    def _template(self, props: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(props.get("template"), dict):
            return props["template"]
        link = props.get("templateLink")
        if isinstance(link, dict) and isinstance(link.get("uri"), str):
            try:
                fetched = self.fetch(link["uri"])
            except Exception as exc:
                raise AdfError(400, "InvalidContentLink", f"Unable to download deployment content from "
                               f"'{link['uri']}': {exc}") from exc
            if not isinstance(fetched, dict):
                raise AdfError(400, "InvalidContentLink", "The linked template is not a JSON object.")
            return fetched
        raise AdfError(400, "InvalidRequestContent", "The deployment must have a 'template' or a "
                       "'templateLink'.")

    def _parameter_values(self, props: Mapping[str, Any]) -> dict[str, Any]:
        params = props.get("parameters") or {}
        if isinstance(props.get("parametersLink"), dict):
            fetched = self.fetch(str(props["parametersLink"].get("uri")))
            params = {**(fetched.get("parameters") or {}), **params}
        if not isinstance(params, dict):
            raise AdfError(400, "InvalidRequestContent", "Deployment 'parameters' must be an object.")
        values: dict[str, Any] = {}
        for pname, spec in params.items():
            if not isinstance(spec, dict) or "value" not in spec:
                if isinstance(spec, dict) and "reference" in spec:
                    raise AdfError(400, "InvalidTemplate", f"Key Vault parameter references ('{pname}') are "
                                   "not supported by the local ARM stand-in.")
                raise AdfError(400, "InvalidRequestContent", f"Deployment parameter '{pname}' must be an "
                               "object with a 'value'.")
            values[pname] = spec["value"]
        return values

    def _plan(self, template: Mapping[str, Any], supplied: Mapping[str, Any], sub: str, rg: str,
              name: str) -> list[_Resource]:
        """The evaluated resources; a deployment validated just before (same body) is not evaluated twice."""
        key = (sub.lower(), rg.lower(), name.lower(), json.dumps([template, supplied], sort_keys=True))
        cached = self._planned.get(key)
        if cached is None:
            cached = self._evaluate_template(template, supplied, sub, rg, name)
            if len(self._planned) >= 128:
                self._planned.pop(next(iter(self._planned)))
            self._planned[key] = cached
        return cached

    def _evaluate_template(self, template: Mapping[str, Any], supplied: Mapping[str, Any], sub: str, rg: str,
                           name: str) -> list[_Resource]:
        """Evaluate the template into resources in a valid deployment order."""
        if not isinstance(template.get("resources"), list):
            raise TemplateError("The template must have a 'resources' array.")
        ctx = TemplateContext.from_template(template, supplied, subscription_id=sub, resource_group=rg,
                                            deployment_name=name)
        evaluate(template.get("variables") or {}, ctx)  # surface variable errors at validation time
        resources: list[_Resource] = []
        for raw in template["resources"]:
            if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                raise TemplateError("Every template resource must be an object with a 'type'.")
            rname = evaluate(raw.get("name"), ctx)
            rtype = evaluate(raw["type"], ctx)
            if not isinstance(rname, str) or not rname:
                raise TemplateError(f"The template resource of type '{rtype}' has no valid name.")
            # A nested deployment's inner template is evaluated in its own scope later.
            body = {k: (v if k == "properties" and rtype.lower() == "microsoft.resources/deployments"
                        and isinstance(v, dict) else _evaluate_value(v, ctx))
                    for k, v in raw.items() if k not in ("name", "type", "dependsOn")}
            if rtype.lower() == "microsoft.resources/deployments":
                props = dict(raw.get("properties") or {})
                inner = props.pop("template", None)
                body["properties"] = evaluate(props, ctx)
                if inner is not None:
                    body["properties"]["template"] = inner
            depends = evaluate(raw.get("dependsOn") or [], ctx)
            resources.append(_Resource(_canonical(rtype, rname), rtype, rname, body,
                                       [str(d) for d in depends]))
        by_key: dict[str, _Resource] = {}
        by_name: dict[str, list[str]] = {}
        for res in resources:
            if res.key in by_key:
                raise TemplateError(f"The resource '{res.type}/{res.name}' is defined multiple times in "
                                    "a template.")
            by_key[res.key] = res
            by_name.setdefault(res.name.split("/")[-1].lower(), []).append(res.key)
            by_name.setdefault(res.name.lower(), []).append(res.key)
        for res in resources:
            resolved = []
            for ref in res.depends_on:
                key = _dependency_key(ref, by_key, by_name)
                if key is None:
                    raise TemplateError(f"Deployment template validation failed: 'The resource '{ref}' is "
                                        "not defined in the template. Please see https://aka.ms/arm-syntax "
                                        "for usage details.'")
                resolved.append(key)
            res.depends_on = resolved
        return _topological(resources, by_key)

    # -- apply ------------------------------------------------------------------------------------
    def settle(self) -> None:
        """Apply every deployment whose delay has passed (caller holds the store lock)."""
        now = self.store.clock()
        for dep in list(self.deployments.values()):
            if dep.state == "Running" and now >= dep.due_at:
                self._apply(dep)

    def _apply(self, dep: Deployment) -> None:
        details: list[dict[str, Any]] = []
        for pattern, (code, message) in self.failing_deployments.items():
            if re.fullmatch(pattern, dep.name, re.IGNORECASE):
                details.append({"code": code, "message": message})
        if not details:
            failed: set[str] = set()
            for res in dep.resources:
                if any(d in failed for d in res.depends_on):
                    failed.add(res.key)
                    continue
                try:
                    rid = self._apply_resource(dep, res)
                    dep.output_resources.append(rid)
                    dep.operation(res, "Succeeded", None, rid)
                except AdfError as exc:
                    failed.add(res.key)
                    detail: dict[str, Any] = {"code": exc.code, "message": exc.message}
                    if exc.details:
                        detail["details"] = exc.details
                    details.append(detail)
                    dep.operation(res, "Failed", detail, f"/subscriptions/{dep.subscription_id}/resourceGroups/"
                                  f"{dep.resource_group}/providers/{res.type}/{res.name}")
        dep.finished_at = time.time()
        if details:
            dep.state = "Failed"
            dep.error = {"code": "DeploymentFailed", "message": _FAILED_MESSAGE, "details": details}
        else:
            dep.state = "Succeeded"

    def _apply_resource(self, dep: Deployment, res: _Resource) -> str:
        store = self.store
        rtype = res.type.lower()
        parts = res.name.split("/")
        props = res.body.get("properties")
        if rtype == "microsoft.resources/deployments":
            return self._apply_nested(dep, res)
        if not rtype.startswith("microsoft.datafactory/factories"):
            raise AdfError(400, "NoRegisteredProviderFound", f"The local ARM stand-in does not deploy "
                           f"resources of type '{res.type}'.")
        if rtype == "microsoft.datafactory/factories":
            factory = store.put_factory(dep.subscription_id, dep.resource_group, parts[0], res.body)
            return factory.id
        factory = store.find_factory(dep.subscription_id, dep.resource_group, parts[0])
        if factory is None:
            raise AdfError(404, "ParentResourceNotFound", "Can not perform requested operation on nested "
                           f"resource. Parent resource '{parts[0]}' not found.")
        kind = rtype.rsplit("/", 1)[1]
        if kind == "managedprivateendpoints":
            obj = store.put_object(factory, kind, parts[2], props, parent=parts[1])
        elif kind in factory.objects:
            obj = store.put_object(factory, kind, parts[1], props)
        else:
            raise AdfError(400, "InvalidResourceType", f"The resource type '{res.type}' could not be found "
                           "in the namespace 'Microsoft.DataFactory'.")
        return factory.object_id(obj)

    def _apply_nested(self, dep: Deployment, res: _Resource) -> str:
        props = res.body.get("properties") or {}
        child_name = res.name
        try:
            child = self.submit(dep.subscription_id, dep.resource_group, child_name,
                                {"properties": {**props, "mode": props.get("mode") or "Incremental"}},
                                dep.correlation_id)
        except AdfError as exc:
            raise AdfError(exc.status, exc.code, exc.message, details=exc.details) from exc
        self._apply(child)
        if child.state == "Failed" and child.error is not None:
            raise AdfError(400, "DeploymentFailed", _FAILED_MESSAGE, details=child.error.get("details"))
        return child.id


def _evaluate_value(value: Any, ctx: TemplateContext) -> Any:
    """``evaluate``, skipping values with no string that starts with "[" (most of a pipeline)."""
    if isinstance(value, (dict, list)) and '"[' not in json.dumps(value):
        return value
    return evaluate(value, ctx)


def _topological(resources: list[_Resource], by_key: Mapping[str, _Resource]) -> list[_Resource]:
    order: list[_Resource] = []
    state: dict[str, int] = {}

    def visit(res: _Resource) -> None:
        mark = state.get(res.key, 0)
        if mark == 2:
            return
        if mark == 1:
            raise TemplateError("Deployment template validation failed: 'Circular dependency detected on "
                                f"resource: '{res.key}'.'")
        state[res.key] = 1
        for dep in res.depends_on:
            visit(by_key[dep])
        state[res.key] = 2
        order.append(res)

    for res in resources:
        visit(res)
    return order
