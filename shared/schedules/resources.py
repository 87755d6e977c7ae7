"""The resource registry (Cloud Custodian style) and exclusion rules.

A resource type is registered by name (``adf_triggers``, ``clusters``,
``warehouses``, ``jobs``; the names of ``schedule.resources``) and knows three
things: how to list its resources as :class:`Resource` values, how to stop one
and how to start one. Everything else (what to stop, what to restore, retries,
parallelism, the audit) is generic and lives in :mod:`.plan` and :mod:`.control`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..registry import Registry

if TYPE_CHECKING:
    from .targets import EnvironmentTargets


@dataclass(frozen=True)
class Resource:
    """One stoppable thing as observed now.

    ``running``: a stop would change it. ``startable``: it is in the state a
    start leaves from (a cluster only from TERMINATED). ``managed`` False means
    the schedules never touch it (a job cluster), with ``note`` saying why.
    """

    type: str
    id: str
    name: str
    state: str
    running: bool
    startable: bool
    tags: Mapping[str, str] = field(default_factory=dict)
    managed: bool = True
    note: str = ""
    kind: str = ""  # a subtype worth showing (jobs: schedule | continuous | trigger)

    @property
    def ref(self) -> tuple[str, str]:
        return (self.type, self.id)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "id": self.id, "name": self.name, "state": self.state,
                             "running": self.running}
        if self.kind:
            d["kind"] = self.kind
        if not self.managed:
            d["managed"] = False
            d["note"] = self.note
        return d


class ResourceType(Protocol):
    """What a registered resource type provides."""

    name: str

    def list(self) -> list[Resource]:
        """Every resource of this type in the environment."""
        ...

    def stop(self, resource: Resource) -> None:
        """Stop one resource (raises on failure)."""
        ...

    def start(self, resource: Resource) -> None:
        """Start one resource (raises on failure)."""
        ...


# A factory builds the type for one environment, or None when the environment lacks that target.
ResourceFactory = Callable[["EnvironmentTargets"], ResourceType | None]


class ResourceRegistry(Registry[ResourceFactory]):
    """Resource types by name (the registry shape components use too)."""

    def __init__(self) -> None:
        super().__init__("resource type")

    def build(self, name: str, targets: EnvironmentTargets) -> ResourceType | None:
        if name not in self:
            raise KeyError(f"no resource type {name!r} (registered: {', '.join(self.names())})")
        return self.get(name)(targets)


resource_types = ResourceRegistry()


@dataclass(frozen=True)
class Exclusion:
    """``name:<glob>`` or ``tag:<key>[=<value>]`` (the config's ``schedule.exclude`` items)."""

    text: str
    kind: str
    pattern: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Exclusion:
        kind, _, rest = text.partition(":")
        if kind == "name" and rest:
            return cls(text, "name", rest)
        if kind == "tag" and rest:
            key, eq, value = rest.partition("=")
            return cls(text, "tag", key, value if eq else None)
        raise ValueError(f"{text!r} must be 'name:<glob>' or 'tag:<key>[=<value>]'")

    def matches(self, resource: Resource) -> bool:
        if self.kind == "name":
            return fnmatch.fnmatchcase(resource.name, self.pattern)
        if self.pattern not in resource.tags:
            return False
        return self.value is None or resource.tags[self.pattern] == self.value


def parse_exclusions(items: Iterable[str]) -> list[Exclusion]:
    return [Exclusion.parse(i) for i in items]


def excluded_by(resource: Resource, exclusions: Iterable[Exclusion]) -> str | None:
    """The first exclusion rule that keeps ``resource`` running, or None."""
    for rule in exclusions:
        if rule.matches(resource):
            return rule.text
    return None


def annotation_tags(annotations: Iterable[Any]) -> dict[str, str]:
    """ADF annotations (plain strings) as tags: ``key=value`` or a bare ``key`` (value "")."""
    tags: dict[str, str] = {}
    for a in annotations:
        if not isinstance(a, str) or not a:
            continue
        key, _, value = a.partition("=")
        tags[key] = value
    return tags
