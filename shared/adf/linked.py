"""ADF's linked templates deployed for real: each child is its own ARM deployment.

ADF writes ``linkedTemplates/ArmTemplate_master.json`` and children
``ArmTemplate_0.json`` … of a few dozen resources each when a factory is
over ARM's limits (800 resources, 256 parameters, 4 MB per template). The
master chains the children with ``dependsOn`` and passes each the parameters
it declares; the children's own ``dependsOn`` only name resources inside the
same child, so what a child really needs from another is what its objects
*reference* (``referenceName``, a managed private endpoint's virtual network).

We deploy each child as a deployment of its own (``<deployment>-<n>``), with
the parameter values the master would pass it, instead of uploading the
children to storage behind a SAS URL: no storage account, container, SAS or
network path for ARM to fetch templates from (nothing to leak, rotate or
firewall), each child within ARM's limits, and each failure attributed to
its child. Children go in waves by those real dependencies (a child after
every child holding an object it references): independent children deploy
in parallel; with ``max_parallel: 1`` the order is the master's.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest
from .plan.order import REFERENCE_TYPES

_PASS_THROUGH = re.compile(r"^\[\s*parameters\(\s*'((?:[^']|'')*)'\s*\)\s*\]$", re.IGNORECASE)
_EXTRA_REFERENCES = {"ManagedVirtualNetworkReference": "managedVirtualNetwork"}


class LinkedTemplateError(BadRequest):
    code = "invalid_template"


@dataclass
class DeploymentUnit:
    """One child template, deployed as ``<deployment name>-<suffix>``."""

    suffix: str  # the child's number in ADF's layout ("0", "1", ...)
    file: str
    template: dict[str, Any]
    parameters: dict[str, Any]  # child parameter -> the master's {"value": expression-or-literal}
    index: int = 0  # position in the master
    after: list[str] = field(default_factory=list)  # suffixes of the units it needs first

    @property
    def resources(self) -> list[dict[str, Any]]:
        return list(self.template.get("resources") or [])


def child_file(files: Mapping[str, bytes], master_path: str, dep: Mapping[str, Any], where: str) -> str:
    """The child template file a master's deployment resource links to (by the file name in its URI)."""
    uri = json.dumps(((dep.get("properties") or {}).get("templateLink") or {}).get("uri", ""))
    prefix = posixpath.dirname(master_path) + "/ArmTemplate_"
    name = next((n for n in sorted(files, key=len, reverse=True)
                 if n.startswith(prefix) and n != master_path and f"/{posixpath.basename(n)}" in uri), None)
    if name is None:
        raise LinkedTemplateError(f"{master_path}: linked template {uri} is not in {where}")
    return name


def _suffix(path: str, index: int) -> str:
    m = re.search(r"ArmTemplate_(\w+)\.json$", path)
    return m.group(1) if m else str(index)


def make_unit(path: str, child: dict[str, Any], dep: Mapping[str, Any], index: int) -> DeploymentUnit:
    params = (dep.get("properties") or {}).get("parameters") or {}
    if not isinstance(params, dict):
        raise LinkedTemplateError(f"{dep.get('name')}: deployment parameters must be an object")
    return DeploymentUnit(_suffix(path, index), path, child, dict(params), index)


# --------------------------------------------------------------------- parameters
def unit_parameters(unit: DeploymentUnit, arm_parameters: Mapping[str, Any],
                    evaluate: Any) -> dict[str, Any]:
    """The child's deployment parameters: what the master passes it, resolved with this environment's values.

    ``[parameters('x')]`` passes the master's entry through unchanged (a value, or a Key Vault reference);
    any other expression is evaluated by ``evaluate`` (the product's evaluator over the real values).
    """
    declared = {k.lower(): k for k in (unit.template.get("parameters") or {})}
    by_lower = {k.lower(): v for k, v in arm_parameters.items()}
    out: dict[str, Any] = {}
    for name, spec in unit.parameters.items():
        if name.lower() not in declared:
            continue
        raw = spec.get("value") if isinstance(spec, Mapping) else None
        m = _PASS_THROUGH.match(raw) if isinstance(raw, str) else None
        if m:
            entry = by_lower.get(m.group(1).replace("''", "'").lower())
            if entry is not None:
                out[declared[name.lower()]] = entry
        elif isinstance(spec, Mapping) and "reference" in spec:
            out[declared[name.lower()]] = {"reference": spec["reference"]}
        else:
            out[declared[name.lower()]] = {"value": evaluate(raw)}
    return out


# -------------------------------------------------------------------------- order
KeyOf = Callable[[Mapping[str, Any]], "tuple[str, str] | None"]


def _provides(unit: DeploymentUnit, key_of: KeyOf) -> set[tuple[str, str]]:
    """(object_type, lower name) of the factory objects a unit deploys."""
    out = set()
    for res in unit.resources:
        key = key_of(res)
        if key is not None:
            out.add((key[0], key[1].lower()))
    return out


def _needs(unit: DeploymentUnit, key_of: KeyOf) -> set[tuple[str, str]]:
    """What a unit's objects reference (``referenceName`` of any reference type, managed networks too)."""
    out: set[tuple[str, str]] = set()
    stack: list[Any] = [r.get("properties") for r in unit.resources]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            ref, rtype = v.get("referenceName"), v.get("type")
            if isinstance(ref, str) and rtype is not None:
                kind = REFERENCE_TYPES.get(rtype) or _EXTRA_REFERENCES.get(rtype)
                if kind:
                    out.add((kind, ref.lower()))
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, (dict, list)))
    for res in unit.resources:  # a private endpoint needs its managed virtual network
        key = key_of(res)
        if key is not None and key[0] == "managedPrivateEndpoint" and "/" in key[1]:
            out.add(("managedVirtualNetwork", key[1].split("/", 1)[0].lower()))
    return out


def unit_waves(units: list[DeploymentUnit], key_of: KeyOf) -> list[list[str]]:
    """Waves of unit suffixes: a unit after every other unit providing an object it needs.

    A cycle between units (not something ADF writes) falls back to the master's order for the rest.
    """
    provider: dict[tuple[str, str], str] = {}
    for u in units:
        for key in _provides(u, key_of):
            provider.setdefault(key, u.suffix)
    for u in units:
        u.after = sorted({provider[k] for k in _needs(u, key_of) if k in provider and provider[k] != u.suffix})
    todo = {u.suffix: u for u in units}
    waves: list[list[str]] = []
    while todo:
        wave = [s for s, u in todo.items() if not set(u.after) & set(todo)]
        if not wave:
            waves.extend([[u.suffix] for u in sorted(todo.values(), key=lambda x: x.index)])
            break
        wave.sort(key=lambda s: todo[s].index)
        waves.append(wave)
        for s in wave:
            del todo[s]
    return waves
