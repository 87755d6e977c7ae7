"""In-memory Data Factory state of the ARM stand-in: factories, their objects, trigger state.

Object kinds are the REST collection names, lower-cased (``pipelines``, ``datasets``,
``linkedservices``, ``dataflows``, ``triggers``, ``integrationruntimes``, ``credentials``,
``globalparameters``, ``managedvirtualnetworks``, ``managedprivateendpoints``); names are
case-insensitive like ADF's. Rules copied from the service:

* a PUT whose body references a missing object fails ``BadRequest`` "The document creation or
  update failed because of invalid reference '<name>'.";
* deleting an object another object references fails ``BadRequest`` "The document cannot be
  deleted since it is referenced by <name>." (target ``/Microsoft.DataFactory/factories/...``);
* deleting a missing object answers 204;
* a tumbling window trigger's startTime, frequency and interval cannot change in place;
* a started trigger cannot be updated with a different definition nor deleted
  (``TriggerEnabledCannotUpdate``); its ``runtimeState`` changes only through start/stop;
* event subscriptions move Provisioning→Enabled and Deprovisioning→Disabled after
  ``transition_s`` seconds, computed lazily from timestamps (no background threads).

All methods are called with the store's lock held by the server (one RLock).
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "REFERENCE_KINDS", "AdfError", "DataFactory", "FactoryStore", "StoredObject"]

# REST collection (lower case) -> (ARM type suffix as ADF returns it)
KINDS: dict[str, str] = {
    "pipelines": "pipelines",
    "datasets": "datasets",
    "linkedservices": "linkedservices",
    "dataflows": "dataflows",
    "triggers": "triggers",
    "integrationruntimes": "integrationruntimes",
    "credentials": "credentials",
    "globalparameters": "globalParameters",
    "managedvirtualnetworks": "managedVirtualNetworks",
    "managedprivateendpoints": "managedVirtualNetworks/managedPrivateEndpoints",
}

# Reference "type" values in ADF JSON -> the kind they point at.
REFERENCE_KINDS: dict[str, str] = {
    "LinkedServiceReference": "linkedservices",
    "DatasetReference": "datasets",
    "PipelineReference": "pipelines",
    "DataFlowReference": "dataflows",
    "IntegrationRuntimeReference": "integrationruntimes",
    "CredentialReference": "credentials",
    "TriggerReference": "triggers",
}

# Built in to every factory: references to it are always valid.
_BUILTIN = {("integrationruntimes", "autoresolveintegrationruntime")}

EVENT_TRIGGER_TYPES = {"BlobEventsTrigger", "CustomEventsTrigger"}

# ADF's text, trailing space included (seen in service answers quoted in public issue trackers).
_TRIGGER_ENABLED = "Cannot update enabled Trigger; the trigger needs to be disabled first. "


class AdfError(Exception):
    """An error the stand-in answers in ARM's shape."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "target": self.target,
                          "details": self.details}}


def iter_references(value: Any) -> Iterator[tuple[str, str]]:
    """Every ``(kind, name)`` a definition references (``{"referenceName", "type"}`` objects)."""
    if isinstance(value, dict):
        ref_type = value.get("type")
        ref_name = value.get("referenceName")
        if isinstance(ref_type, str) and isinstance(ref_name, str) and ref_type in REFERENCE_KINDS:
            yield REFERENCE_KINDS[ref_type], ref_name
        for v in value.values():
            yield from iter_references(v)
    elif isinstance(value, list):
        for v in value:
            yield from iter_references(v)


@dataclass
class StoredObject:
    """One factory object as stored (``properties`` exactly as PUT, read-only fields apart)."""

    kind: str
    name: str
    properties: Any
    parent: str | None = None  # managed virtual network of a private endpoint
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)
    runtime_state: str = "Stopped"
    subscription_status: str = "Disabled"
    subscription_changed_at: float = 0.0

    def references(self) -> set[tuple[str, str]]:
        return {(k, n.lower()) for k, n in iter_references(self.properties)}


@dataclass
class DataFactory:
    subscription_id: str
    resource_group: str
    name: str
    location: str = "westeurope"
    body: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    etag: str = field(default_factory=lambda: uuid.uuid4().hex)
    objects: dict[str, dict[str, StoredObject]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS})

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.DataFactory/factories/{self.name}")

    def object_id(self, obj: StoredObject) -> str:
        if obj.kind == "managedprivateendpoints":
            return f"{self.id}/managedVirtualNetworks/{obj.parent}/managedPrivateEndpoints/{obj.name}"
        return f"{self.id}/{KINDS[obj.kind]}/{obj.name}"

    def resource(self) -> dict[str, Any]:
        """The factory as ``GET factories/{name}`` returns it."""
        props = dict(self.body.get("properties") or {})
        props.update({"provisioningState": "Succeeded", "createTime": self.created, "version": "2018-06-01"})
        out: dict[str, Any] = {"id": self.id, "name": self.name, "type": "Microsoft.DataFactory/factories",
                               "location": self.location, "properties": props, "eTag": self.etag}
        for key in ("identity", "tags"):
            if key in self.body:
                out[key] = self.body[key]
        return out


class FactoryStore:
    """Every factory the stand-in knows, keyed by (subscription, resource group, name), lower case."""

    def __init__(self, *, transition_s: float = 0.2, clock: Callable[[], float] = time.monotonic,
                 validate_references: bool = True) -> None:
        self.lock = threading.RLock()
        self.transition_s = transition_s
        self.clock = clock
        self.validate_references = validate_references
        self.factories: dict[tuple[str, str, str], DataFactory] = {}
        # (factory name lower, kind, object name lower) -> (code, message): PUT/deploy of it fails
        self.failing_objects: dict[tuple[str, str, str], tuple[str, str]] = {}
        # (factory lower, trigger lower) -> how many more starts/stops answer the provisioning conflict
        self.provisioning_conflicts: dict[tuple[str, str], int] = {}

    # -- factories --------------------------------------------------------------------------
    @staticmethod
    def _key(sub: str, rg: str, name: str) -> tuple[str, str, str]:
        return sub.lower(), rg.lower(), name.lower()

    def get_factory(self, sub: str, rg: str, name: str) -> DataFactory:
        factory = self.factories.get(self._key(sub, rg, name))
        if factory is None:
            raise AdfError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.DataFactory/factories/{name}' under resource group "
                           f"'{rg}' was not found. For more details please go to "
                           "https://aka.ms/ARMResourceNotFoundFix")
        return factory

    def find_factory(self, sub: str, rg: str, name: str) -> DataFactory | None:
        return self.factories.get(self._key(sub, rg, name))

    def put_factory(self, sub: str, rg: str, name: str, body: dict[str, Any]) -> DataFactory:
        factory = self.factories.get(self._key(sub, rg, name))
        if factory is None:
            factory = DataFactory(sub, rg, name)
            self.factories[self._key(sub, rg, name)] = factory
        factory.location = str(body.get("location") or factory.location)
        factory.body = {k: v for k, v in body.items() if k in ("properties", "identity", "tags")}
        factory.etag = uuid.uuid4().hex
        return factory

    def delete_factory(self, sub: str, rg: str, name: str) -> bool:
        return self.factories.pop(self._key(sub, rg, name), None) is not None

    def list_factories(self, sub: str, rg: str | None) -> list[DataFactory]:
        return [f for (s, r, _), f in sorted(self.factories.items())
                if s == sub.lower() and (rg is None or r == rg.lower())]

    # -- objects ------------------------------------------------------------------------------
    def _target(self, factory: DataFactory, kind: str, name: str, parent: str | None) -> str:
        if kind == "managedprivateendpoints":
            return (f"/Microsoft.DataFactory/factories/{factory.name}/managedVirtualNetworks/{parent}"
                    f"/managedPrivateEndpoints/{name}")
        return f"/Microsoft.DataFactory/factories/{factory.name}/{kind}/{name}"

    def get_object(self, factory: DataFactory, kind: str, name: str, parent: str | None = None) -> StoredObject:
        obj = factory.objects[kind].get(self._object_key(kind, name, parent))
        if obj is None:
            raise AdfError(404, "NotFound" if kind != "triggers" else "TriggerNotFound",
                           f"Entity {name} not found", self._target(factory, kind, name, parent))
        return obj

    @staticmethod
    def _object_key(kind: str, name: str, parent: str | None) -> str:
        return f"{(parent or '').lower()}/{name.lower()}" if kind == "managedprivateendpoints" else name.lower()

    def list_objects(self, factory: DataFactory, kind: str, parent: str | None = None) -> list[StoredObject]:
        objs = sorted(factory.objects[kind].values(), key=lambda o: o.name.lower())
        if kind == "managedprivateendpoints":
            objs = [o for o in objs if (o.parent or "").lower() == (parent or "").lower()]
        return objs

    def _exists(self, factory: DataFactory, kind: str, name: str) -> bool:
        return (kind, name.lower()) in _BUILTIN or name.lower() in factory.objects[kind]

    def put_object(self, factory: DataFactory, kind: str, name: str, properties: Any,
                   parent: str | None = None) -> StoredObject:
        """Create or update an object, enforcing ADF's reference and trigger rules."""
        failing = self.failing_objects.get((factory.name.lower(), kind, name.lower()))
        if failing is not None:
            raise AdfError(400, failing[0], failing[1], self._target(factory, kind, name, parent))
        if not isinstance(properties, dict):
            raise AdfError(400, "BadRequest", "The request body must contain 'properties'.",
                           self._target(factory, kind, name, parent))
        if kind == "managedprivateendpoints" and (
                parent is None or parent.lower() not in factory.objects["managedvirtualnetworks"]):
            raise AdfError(400, "BadRequest", f"Managed virtual network '{parent}' does not exist.",
                           self._target(factory, kind, name, parent))
        if self.validate_references:
            for ref_kind, ref_name in iter_references(properties):
                if (ref_kind, ref_name.lower()) == (kind, name.lower()):
                    continue
                if not self._exists(factory, ref_kind, ref_name):
                    raise AdfError(400, "BadRequest", "The document creation or update failed because "
                                   f"of invalid reference '{ref_name}'.",
                                   self._target(factory, kind, name, parent))
        key = self._object_key(kind, name, parent)
        existing = factory.objects[kind].get(key)
        clean = _strip_read_only(kind, properties)
        if existing is not None and kind == "triggers" and existing.runtime_state == "Started" \
                and _strip_read_only(kind, existing.properties) != clean:
            raise AdfError(400, "TriggerEnabledCannotUpdate", _TRIGGER_ENABLED)
        if existing is not None and kind == "triggers":
            _check_tumbling_window_update(existing.properties, clean)
        if kind == "managedprivateendpoints":
            self._check_endpoint(factory, existing, name, parent, clean)
        if existing is None:
            obj = StoredObject(kind, name, clean, parent=parent)
            factory.objects[kind][key] = obj
        else:
            existing.properties = clean
            existing.etag = uuid.uuid4().hex
            obj = existing
        return obj

    def _check_endpoint(self, factory: DataFactory, existing: StoredObject | None, name: str, parent: str | None,
                        props: dict[str, Any]) -> None:
        """ADF refuses to change a managed private endpoint in place, and a second one to the same
        private-link resource and group (the duplicate's text is the service's, from public trackers)."""
        target = self._target(factory, "managedprivateendpoints", name, parent)
        if existing is not None:
            if _endpoint_identity(existing.properties) != _endpoint_identity(props) or \
                    sorted(existing.properties.get("fqdns") or []) != sorted(props.get("fqdns") or []):
                raise AdfError(400, "InvalidResourceRequest", "Invalid resource request. Resource type: "
                               f"'ManagedPrivateEndpoint', Resource name: '{name}' 'Error: A managed private "
                               "endpoint cannot be updated; delete it and create it again.'", target)
            return
        for other in factory.objects["managedprivateendpoints"].values():
            if (other.parent or "").lower() == (parent or "").lower() and \
                    _endpoint_identity(other.properties) == _endpoint_identity(props):
                raise AdfError(400, "InvalidResourceRequest", "Invalid resource request. Resource type: "
                               f"'ManagedPrivateEndpoint', Resource name: '{name}' 'Error: A managed private "
                               "endpoint to the data source already exist.'", target)

    def referenced_by(self, factory: DataFactory, kind: str, name: str) -> list[StoredObject]:
        """Objects whose definition references ``(kind, name)``."""
        target = (kind, name.lower())
        return [o for objs in factory.objects.values() for o in objs.values()
                if target in o.references() and not (o.kind == kind and o.name.lower() == name.lower())]

    def delete_object(self, factory: DataFactory, kind: str, name: str, parent: str | None = None) -> bool:
        """Delete; False when it did not exist (the REST answer is then 204)."""
        key = self._object_key(kind, name, parent)
        obj = factory.objects[kind].get(key)
        if obj is None:
            return False
        if kind == "triggers" and obj.runtime_state == "Started":
            raise AdfError(400, "TriggerEnabledCannotUpdate", _TRIGGER_ENABLED)
        users = self.referenced_by(factory, kind, name)
        if kind == "managedvirtualnetworks":
            users += [o for o in factory.objects["managedprivateendpoints"].values()
                      if (o.parent or "").lower() == name.lower()]
        if users:
            raise AdfError(400, "BadRequest",
                           f"The document cannot be deleted since it is referenced by {users[0].name}.",
                           self._target(factory, kind, name, parent))
        del factory.objects[kind][key]
        return True

    # -- triggers -----------------------------------------------------------------------------
    def set_trigger_state(self, factory: DataFactory, name: str, state: str) -> StoredObject:
        trigger = self.get_object(factory, "triggers", name)
        trigger.runtime_state = state
        return trigger

    def start_or_stop(self, factory: DataFactory, trigger: StoredObject, start: bool) -> None:
        """Start or stop a trigger; an event trigger subscribes on start and unsubscribes on stop.

        While its subscription is changing (Provisioning/Deprovisioning) ADF refuses both with
        400 ``BadRequest`` "Resource cannot be updated during provisioning"; so does an injected conflict.
        """
        key = (factory.name.lower(), trigger.name.lower())
        injected = self.provisioning_conflicts.get(key, 0)
        event = isinstance(trigger.properties, dict) and trigger.properties.get("type") in EVENT_TRIGGER_TYPES
        if injected > 0 or (event and self.subscription_status(trigger) in ("Provisioning", "Deprovisioning")):
            if injected > 0:
                self.provisioning_conflicts[key] = injected - 1
            raise AdfError(400, "BadRequest", "Resource cannot be updated during provisioning")
        trigger.runtime_state = "Started" if start else "Stopped"
        if event:
            self.change_subscription(trigger, start)

    def subscription_status(self, trigger: StoredObject) -> str:
        """The event subscription status, advanced lazily once ``transition_s`` has passed."""
        if trigger.subscription_status in ("Provisioning", "Deprovisioning") \
                and self.clock() - trigger.subscription_changed_at >= self.transition_s:
            trigger.subscription_status = "Enabled" if trigger.subscription_status == "Provisioning" \
                else "Disabled"
        return trigger.subscription_status

    def change_subscription(self, trigger: StoredObject, subscribe: bool) -> str:
        current = self.subscription_status(trigger)
        if subscribe and current in ("Disabled", "Deprovisioning"):
            trigger.subscription_status = "Provisioning"
            trigger.subscription_changed_at = self.clock()
        elif not subscribe and current in ("Enabled", "Provisioning"):
            trigger.subscription_status = "Deprovisioning"
            trigger.subscription_changed_at = self.clock()
        return self.subscription_status(trigger)

    # -- rendering ----------------------------------------------------------------------------
    def render(self, factory: DataFactory, obj: StoredObject) -> dict[str, Any]:
        """The object as the ADF REST API returns it."""
        props = copy.deepcopy(obj.properties)
        if obj.kind == "triggers":
            props["runtimeState"] = obj.runtime_state
        elif obj.kind == "managedprivateendpoints":
            props.setdefault("provisioningState", "Succeeded")
            props.setdefault("connectionState", {"status": "Approved", "description": "", "actionsRequired": ""})
            props.setdefault("isReserved", False)
        elif obj.kind == "managedvirtualnetworks":
            props.setdefault("vNetId", str(uuid.uuid5(uuid.NAMESPACE_URL, factory.id + obj.name)))
            props.setdefault("alias", f"{factory.name}-{obj.name}")
        elif obj.kind == "integrationruntimes" and isinstance(props, dict):
            props.setdefault("state", "Online" if props.get("type") == "Managed" else "Initial")
        return {"id": factory.object_id(obj), "name": obj.name,
                "type": f"Microsoft.DataFactory/factories/{KINDS[obj.kind]}",
                "properties": props, "etag": obj.etag}


_READ_ONLY = {
    "triggers": ("runtimeState",),
    "managedprivateendpoints": ("provisioningState", "connectionState", "isReserved"),
    "managedvirtualnetworks": ("vNetId", "alias"),
    "integrationruntimes": ("state",),
}


def _check_tumbling_window_update(old: Any, new: Any) -> None:
    """ADF cannot change a tumbling window's start time or recurrence in place (delete and recreate)."""
    if not (isinstance(old, dict) and isinstance(new, dict)) or \
            old.get("type") != "TumblingWindowTrigger" or new.get("type") != "TumblingWindowTrigger":
        return
    before, after = old.get("typeProperties") or {}, new.get("typeProperties") or {}
    if _instant(before.get("startTime")) != _instant(after.get("startTime")):
        raise AdfError(400, "TumblingWindowTriggerStartTimeUpdateNotAllowed",
                       "Start time cannot be updated for Tumbling Window Trigger.")
    if before.get("frequency") != after.get("frequency") or before.get("interval") != after.get("interval"):
        raise AdfError(400, "TumblingWindowTriggerFrequencyOrIntervalUpdateNotAllowed",
                       "Frequency and interval cannot be updated for Tumbling Window Trigger.")


def _endpoint_identity(props: Any) -> tuple[str, str]:
    p = props if isinstance(props, dict) else {}
    return (str(p.get("privateLinkResourceId") or "").lower(), str(p.get("groupId") or "").lower())


def _instant(value: Any) -> Any:
    """Compare schedule times as instants ('...Z' vs '+00:00', with or without fractions)."""
    if not isinstance(value, str):
        return value
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return value


def _strip_read_only(kind: str, properties: Any) -> Any:
    if not isinstance(properties, dict):
        return properties
    drop = _READ_ONLY.get(kind, ())
    return {k: copy.deepcopy(v) for k, v in properties.items() if k not in drop}
