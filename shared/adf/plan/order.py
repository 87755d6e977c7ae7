"""Ordering: references between objects, and waves of independent operations.

Names are compared case-insensitively (Data Factory's rule): a reference to
``PL_Load`` is a reference to ``pl_load``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# delete phases, in order (SPEC 6): triggers, pipelines, data flows, datasets, linked services,
# integration runtimes, managed private endpoints; the rest after what may use them
DELETE_PHASES = ("trigger", "pipeline", "changeDataCapture", "dataflow", "dataset", "linkedService",
                 "credential", "integrationRuntime", "managedPrivateEndpoint", "globalParameter")
REFERENCE_TYPES = {
    "PipelineReference": "pipeline", "DatasetReference": "dataset", "LinkedServiceReference": "linkedService",
    "DataFlowReference": "dataflow", "IntegrationRuntimeReference": "integrationRuntime",
    "TriggerReference": "trigger", "CredentialReference": "credential",
}

Key = tuple[str, str]


def ci(key: Key) -> Key:
    """The case-insensitive form of an (object_type, name) key."""
    return (key[0], key[1].lower())


def references(props: Any) -> set[Key]:
    """(object_type, name) of every object a definition refers to by ``referenceName``."""
    found: set[Key] = set()
    stack = [props]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            ref, rtype = v.get("referenceName"), v.get("type")
            if isinstance(ref, str) and rtype in REFERENCE_TYPES:
                found.add((REFERENCE_TYPES[rtype], ref))
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return found


def levels(nodes: Iterable[Key], before: Mapping[Key, set[Key]]) -> tuple[list[list[Key]], list[Key]]:
    """Waves: a node goes after every node in ``before[node]`` (restricted to ``nodes``); cycles reported."""
    todo = set(nodes)
    waves: list[list[Key]] = []
    while todo:
        wave = sorted(n for n in todo if not ((before.get(n, set()) & todo) - {n}))
        if not wave:  # a cycle: put the rest in one last wave and say so
            cyc = sorted(todo)
            waves.append(cyc)
            return waves, cyc
        waves.append(wave)
        todo -= set(wave)
    return waves, []


def _phase_waves(keys: list[Key], live: Mapping[Key, Mapping[str, Any]]) -> tuple[list[list[Key]], list[Key]]:
    by_ci = {ci(k): k for k in keys}
    # X waits for every deleted object that refers to X
    before: dict[Key, set[Key]] = {k: set() for k in keys}
    for k in keys:
        for ref in references((live.get(k) or {}).get("properties")):
            target = by_ci.get(ci(ref))
            if target is not None and target != k:
                before[target].add(k)
    # Key Vault linked services last among linked services: secrets of the others resolve through them
    kv = {k for k in keys if k[0] == "linkedService"
          and ((live.get(k) or {}).get("properties") or {}).get("type") == "AzureKeyVault"}
    for k in kv:
        before[k] |= set(keys) - kv
    return levels(keys, before)


def delete_waves(deletes: list[Key], live: Mapping[Key, Mapping[str, Any]]) -> tuple[list[list[Key]], list[str]]:
    """Delete order: by phase (triggers ... managed private endpoints); inside a phase, referrers first
    (pipeline callers before callees, data flows before their flowlets, Key Vault linked services last)."""
    warnings: list[str] = []
    waves: list[list[Key]] = []
    phase_of = {t: i for i, t in enumerate(DELETE_PHASES)}
    by_phase: dict[int, list[Key]] = {}
    for key in deletes:
        by_phase.setdefault(phase_of.get(key[0], len(DELETE_PHASES)), []).append(key)
    for phase in sorted(by_phase):
        phase_waves, cycle = _phase_waves(by_phase[phase], live)
        if cycle:
            warnings.append(f"reference cycle among deleted objects: {', '.join(n for _, n in cycle)}")
        waves.extend(phase_waves)
    return waves, warnings


def tumbling_deps(props: Mapping[str, Any] | None) -> set[str]:
    """Names (lower case) of the triggers a tumbling window trigger depends on."""
    tp = (props or {}).get("typeProperties") or {}
    out = set()
    for dep in tp.get("dependsOn") or []:
        ref = (dep or {}).get("referenceTrigger") or {}
        if ref.get("referenceName"):
            out.add(str(ref["referenceName"]).lower())
    return out


def start_waves(names: Iterable[str], definitions: Mapping[str, Mapping[str, Any]]
                ) -> tuple[list[list[str]], list[str]]:
    """Start order: a tumbling window trigger after the triggers it depends on."""
    names = list(names)
    by_lower = {n.lower(): n for n in names}
    defs = {k.lower(): v for k, v in definitions.items()}
    nodes = [("trigger", n) for n in names]
    before = {("trigger", n): {("trigger", by_lower[d]) for d in tumbling_deps(defs.get(n.lower()))
                               if d in by_lower} for n in names}
    waves, cycle = levels(nodes, before)
    warn = [f"tumbling window dependency cycle: {', '.join(n for _, n in cycle)}"] if cycle else []
    return [[n for _, n in w] for w in waves], warn
