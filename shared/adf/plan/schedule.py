"""The apply schedule: what the ADF deployer does, in order, typed and serialisable.

The planner computes it; ``Plan.data["schedule"]`` carries its JSON form
(:meth:`ApplySchedule.to_json`), so a plan printed, stored in the audit or
sent elsewhere can be read back (:meth:`ApplySchedule.from_json`) and applied
exactly as planned. Unknown or ill-typed fields are refused, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ...errors import BadRequest

SCHEDULE_VERSION = 1


class ScheduleError(BadRequest):
    code = "invalid_schedule"


@dataclass(frozen=True)
class ObjectRef:
    object_type: str
    name: str


@dataclass(frozen=True)
class TriggerRow:
    """One trigger in the plan: its states and what the run does to it."""

    name: str
    type: str | None
    live_state: str | None
    desired_state: str | None
    action: str  # start | stop | stop+start | leave
    replace: bool = False
    reason: str = ""
    event: bool = False


@dataclass(frozen=True)
class ApplySchedule:
    """Every ordered operation of one ADF apply (waves: independent operations run in parallel)."""

    deployment_name: str
    stop_waves: tuple[tuple[str, ...], ...] = ()
    unsubscribe: tuple[str, ...] = ()  # event triggers unsubscribed before the stops
    replace: tuple[str, ...] = ()  # triggers deleted before the deployment and recreated by it
    replace_waves: tuple[tuple[str, ...], ...] = ()
    recreate: tuple[ObjectRef, ...] = ()  # other objects deleted before the deployment (immutable changes)
    start_waves: tuple[tuple[str, ...], ...] = ()
    delete_waves: tuple[tuple[ObjectRef, ...], ...] = ()
    # linked templates: waves of child suffixes, each child its own deployment "<deployment_name>-<suffix>"
    # (empty: one deployment of the whole template)
    deployments: tuple[tuple[str, ...], ...] = ()
    triggers: tuple[TriggerRow, ...] = ()
    stop_triggers: str = "changed"
    start_triggers: str = "source"
    previously_started: tuple[str, ...] = ()
    version: int = field(default=SCHEDULE_VERSION)

    # ------------------------------------------------------------- derived
    @property
    def stop_count(self) -> int:
        return sum(len(w) for w in self.stop_waves)

    @property
    def start_count(self) -> int:
        return sum(len(w) for w in self.start_waves)

    @property
    def delete_count(self) -> int:
        return sum(len(w) for w in self.delete_waves)

    def deployment_names(self) -> list[str]:
        """Every ARM deployment this apply makes, in order."""
        if not self.deployments:
            return [self.deployment_name]
        return [f"{self.deployment_name}-{s}" for w in self.deployments for s in w]

    def trigger_types(self) -> dict[str, str | None]:
        return {r.name: r.type for r in self.triggers}

    # --------------------------------------------------------- serialising
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return _lists(d)

    @classmethod
    def from_json(cls, data: Any) -> ApplySchedule:
        """The schedule from its JSON form; raises :class:`ScheduleError` on anything unexpected."""
        if not isinstance(data, Mapping):
            raise ScheduleError("the plan carries no ADF apply schedule")
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ScheduleError(f"apply schedule: unknown fields {', '.join(extra)}")
        if data.get("version", SCHEDULE_VERSION) != SCHEDULE_VERSION:
            raise ScheduleError(f"apply schedule version {data.get('version')!r} is not {SCHEDULE_VERSION}")
        try:
            return cls(
                deployment_name=_str(data["deployment_name"]),
                stop_waves=_waves(data.get("stop_waves")), unsubscribe=_names(data.get("unsubscribe")),
                replace=_names(data.get("replace")), replace_waves=_waves(data.get("replace_waves")),
                recreate=tuple(_ref(r) for r in data.get("recreate") or ()),
                start_waves=_waves(data.get("start_waves")),
                delete_waves=tuple(tuple(_ref(r) for r in w) for w in data.get("delete_waves") or ()),
                deployments=_waves(data.get("deployments")),
                triggers=tuple(_row(r) for r in data.get("triggers") or ()),
                stop_triggers=_str(data.get("stop_triggers", "changed")),
                start_triggers=_str(data.get("start_triggers", "source")),
                previously_started=_names(data.get("previously_started")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError(f"apply schedule: malformed ({exc})") from None

    @classmethod
    def of_plan(cls, plan: Any) -> ApplySchedule:
        """The schedule of an ADF plan (``plan.data["schedule"]``)."""
        return cls.from_json((plan.data or {}).get("schedule"))


def _lists(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _lists(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_lists(x) for x in v]
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _names(v: Any) -> tuple[str, ...]:
    return tuple(_str(x) for x in v or ())


def _waves(v: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(_names(w) for w in v or ())


def _ref(v: Any) -> ObjectRef:
    if not isinstance(v, Mapping):
        raise TypeError("an object reference must be {object_type, name}")
    return ObjectRef(_str(v["object_type"]), _str(v["name"]))


def _row(v: Any) -> TriggerRow:
    if not isinstance(v, Mapping):
        raise TypeError("a trigger row must be an object")
    opt = {k: (None if v.get(k) is None else _str(v.get(k))) for k in ("type", "live_state", "desired_state")}
    return TriggerRow(_str(v["name"]), action=_str(v["action"]), replace=bool(v.get("replace")),
                      reason=_str(v.get("reason", "")), event=bool(v.get("event")), **opt)
