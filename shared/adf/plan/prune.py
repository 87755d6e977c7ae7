"""Prune: live objects the template no longer declares (delete, or leave with the reason).

Only what the template manages is pruned: kinds that cannot be deleted
through the API are left, and so are global parameters when the template
carries no ``globalparameters`` resource (they are then managed elsewhere:
the portal, another pipeline, or the factory resource itself).
A plan that would delete every deletable object of the factory is refused
unless forced (wrong folder or template, most likely).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...deploy.model import PlannedAction
from .order import Key
from .reconcile import Pairing

GLOBAL_PARAMETERS = "globalParameter"


@dataclass
class Pruning:
    actions: list[PlannedAction] = field(default_factory=list)
    deletes: list[Key] = field(default_factory=list)  # live keys
    refused: str | None = None
    warnings: list[str] = field(default_factory=list)


def _deletable(object_type: str) -> bool:
    from ..client import OBJECT_KINDS

    kind = OBJECT_KINDS.get(object_type)
    return kind is None or kind.deletable


def _leave_reason(key: Key, managed: set[str], delete_removed: bool) -> str | None:
    """Why a removed object is left alone (None: it is deleted)."""
    if not _deletable(key[0]):
        return "not in source; cannot be deleted through the API"
    if key[0] not in managed:
        return "the template does not manage this kind of object (managed elsewhere)"
    if not delete_removed:
        return "not in source; delete_removed is off"
    return None


def managed_kinds(pairing: Pairing) -> set[str]:
    """Object types the template manages: every kind, global parameters only when it declares them."""
    from ..client import OBJECT_KINDS

    kinds = set(OBJECT_KINDS) | {k[0] for k in pairing.live}
    if not any(k[0] == GLOBAL_PARAMETERS for k in pairing.desired):
        kinds.discard(GLOBAL_PARAMETERS)
    return kinds


def prune(pairing: Pairing, *, delete_removed: bool, force: bool) -> Pruning:
    """Delete or leave every removed object; refuse a plan that empties the factory."""
    out = Pruning()
    managed = managed_kinds(pairing)
    for key in pairing.removed:
        why = _leave_reason(key, managed, delete_removed)
        if why is None:
            out.deletes.append(key)
            out.actions.append(PlannedAction("delete", key[0], key[1], "not in the publish output"))
        else:
            out.actions.append(PlannedAction("leave", key[0], key[1], why))
    live_deletable = [k for k in pairing.live if _deletable(k[0]) and k[0] in managed]
    if out.deletes and len(out.deletes) == len(live_deletable):
        msg = (f"the plan deletes every object of the factory ({len(out.deletes)}): wrong factory folder or "
               "template? Re-run with force to allow it")
        if force:
            out.warnings.append("forced: " + msg)
        else:
            out.refused = msg
    return out
