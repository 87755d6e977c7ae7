"""Build what ADF's Publish writes from the factory JSON of one commit.

Output (:class:`BuildResult`): ``ARMTemplateForFactory.json``,
``ARMTemplateParametersForFactory.json``, ``linkedTemplates/`` (``ArmTemplate_master.json``,
``ArmTemplateParameters_master.json`` and ``ArmTemplate_<i>.json`` children of at most
:data:`LINKED_CHUNK` resources, chained one after the other) and, when the factory document
exists, ``globalParameters/<factory>_GlobalParameters.json``. Pure: bytes in, documents out.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import normalize
from .params import (
    DEFAULT_DEFINITION,
    PREFIX,
    T_FACTORY,
    Parameter,
    Parameterizer,
    Parameters,
    check_definition,
    definition_entries,
    definition_for,
    definition_key,
    escape,
)
from .secrets import apply_secrets
from .source import (
    MPE_KIND,
    FactoryObject,
    FactorySource,
    FactoryValidationError,
    Problem,
    read_source,
)

API_VERSION = "2018-06-01"
DEPLOYMENTS_API_VERSION = "2024-03-01"  # what ADF writes today (older publishes: 2018-02-01)
TEMPLATE_SCHEMA = "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#"
FACTORY_DEP = "[variables('factoryId')]"
FACTORY_ID = "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"
LINKED_CHUNK = 20
FULL_TEMPLATE = "ARMTemplateForFactory.json"
FULL_PARAMETERS = "ARMTemplateParametersForFactory.json"
LINKED_DIR = "linkedTemplates"
# ADF's order of resource types in the full template
KIND_ORDER = ("pipelines", "datasets", "linkedServices", "triggers", "integrationRuntimes", "dataflows",
              "credentials", "adfcdcs", "managedVirtualNetworks", MPE_KIND)
# ARM limits (a single template)
MAX_PARAMETERS, MAX_RESOURCES, MAX_TEMPLATE_BYTES = 256, 800, 4 * 1024 * 1024


@dataclass
class BuildResult:
    factory_name: str
    template: dict[str, Any]
    parameters: dict[str, Any]  # the parameters file
    linked: dict[str, dict[str, Any]]  # file name in linkedTemplates/ -> document
    global_parameters: dict[str, Any] | None  # None: ADF writes no globalParameters/ file
    counts: dict[str, int]
    warnings: list[Problem] = field(default_factory=list)

    @property
    def needs_linked(self) -> bool:
        """True when the full template is over ARM's resource or size limit: only the linked templates deploy."""
        return bool(self.over_limits())

    def over_limits(self) -> list[str]:
        """The ARM limits the full template exceeds that linked templates get around (resources, size)."""
        out = []
        if len(self.template["resources"]) > MAX_RESOURCES:
            out.append(f"{len(self.template['resources'])} resources > {MAX_RESOURCES}")
        size = len(json.dumps(self.template, separators=(",", ":")).encode())
        if size > MAX_TEMPLATE_BYTES:
            out.append(f"{size / 1048576:.1f} MB > 4 MB")
        return out

    @property
    def too_many_parameters(self) -> bool:
        """Over ARM's 256 parameters: not deployable either way (the master has them all); ADF's answer is a
        custom parameter definition with fewer parameterized properties."""
        return len(self.template["parameters"]) > MAX_PARAMETERS

    def files(self) -> dict[str, dict[str, Any]]:
        """Relative output path -> JSON document, as ADF lays them out in the publish branch."""
        out = {FULL_TEMPLATE: self.template, FULL_PARAMETERS: self.parameters}
        for name, doc in self.linked.items():
            out[f"{LINKED_DIR}/{name}"] = doc
        if self.global_parameters is not None:
            out[f"globalParameters/{self.factory_name}_GlobalParameters.json"] = self.global_parameters
        return out

    def summary(self) -> str:
        objects = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items())) or "no objects"
        children = len(self.linked) - 2
        linked = (f"linked templates needed ({'; '.join(self.over_limits())})" if self.needs_linked
                  else "linked templates not needed")
        if self.too_many_parameters:
            linked += (f"; {len(self.template['parameters'])} parameters > {MAX_PARAMETERS}: reduce them with "
                       "arm-template-parameters-definition.json")
        return (f"factory {self.factory_name or '(unnamed)'}: {objects}; {len(self.template['parameters'])} "
                f"parameters, {len(self.template['resources'])} resources, {children} linked "
                f"template{'s' if children != 1 else ''}; {linked}")


def _resource_name(obj: FactoryObject) -> str:
    seg = f"{obj.vnet}/{obj.name}" if obj.kind == MPE_KIND else obj.name
    return "[concat(parameters('factoryName'), '/" + seg.replace("'", "''") + "')]"


def _dep(kind: str, name: str) -> str:
    return "[concat(variables('factoryId'), '/" + kind + "/" + name.replace("'", "''") + "')]"


def _depends_on(obj: FactoryObject, index: dict[tuple[str, str], FactoryObject]) -> list[str]:
    out: list[str] = []
    if obj.kind == MPE_KIND:
        vnet = index.get(("managedVirtualNetworks", obj.vnet.lower()))
        out.append(_dep("managedVirtualNetworks", vnet.name if vnet else obj.vnet))
    for kind, name, _ in obj.references:
        target = index.get((kind, name.lower()))
        if target is None or target is obj:
            continue
        d = _dep(kind, target.name)
        if d not in out:
            out.append(d)
    return out


def _sort_key(o: FactoryObject) -> tuple[int, str, str]:
    kind = KIND_ORDER.index(o.kind) if o.kind in KIND_ORDER else len(KIND_ORDER)
    return (kind, o.vnet, o.name)


def _definition(src: FactorySource) -> tuple[dict[str, Any], list[Problem]]:
    if src.definition is None:
        return DEFAULT_DEFINITION, []
    return src.definition, check_definition(src.definition, src.definition_file)


def build_source(src: FactorySource, factory_name: str | None = None) -> BuildResult:
    """Build from a parsed source; raises :class:`FactoryValidationError` listing every problem."""
    definition, def_problems = _definition(src)
    problems = list(src.problems) + def_problems
    if problems:
        raise _invalid(problems)
    name = factory_name or (src.factory.name if src.factory else "")
    config = src.publish_config
    include_factory = bool(config.get("includeFactoryTemplate")) and src.factory is not None
    include_globals = bool(config.get("includeGlobalParamsTemplate"))
    params = Parameters()
    params.add(Parameter("factoryName", "string", name, bool(name), "Data Factory name"), "", "$")

    index = src.by_key()
    hits: dict[tuple[str, str], set[str]] = {}  # definition leaves that matched a value
    resources: list[dict[str, Any]] = []
    owners: list[FactoryObject | None] = []  # the object each resource comes from
    for obj in sorted(src.objects, key=_sort_key):
        owners.append(obj)
        resources.append(_object_resource(obj, definition, params, hits, index, include_factory))

    globals_doc = _global_parameters(src)
    if include_globals and globals_doc:
        res = {"name": "[concat(parameters('factoryName'), '/default')]", "type": PREFIX + "globalparameters",
               "apiVersion": API_VERSION, "properties": escape(globals_doc)}
        tree = definition_for(definition, PREFIX + "globalparameters", None)
        if tree is not None:
            Parameterizer(params, "default", src.factory.file if src.factory else "",
                          hits.setdefault(((PREFIX + "globalparameters").lower(), ""), set())).apply(tree, res, [])
        res["dependsOn"] = ["[variables('factoryId')]"] if include_factory else []
        resources.append(res)
    if include_factory and src.factory is not None:
        resources.append(_factory_resource(src.factory, definition, params, embed_globals=not include_globals,
                                           hits=hits.setdefault((T_FACTORY.lower(), ""), set())))

    if params.problems:
        raise _invalid(params.problems)
    warnings = list(src.warnings) + _unused_definition_warnings(src, hits)
    owners += [None] * (len(resources) - len(owners))  # global parameters and factory resources
    _, cycle = _levels(resources)
    if cycle:
        raise _invalid([_cycle_problem([owners[i] for i in cycle], resources)])
    arm_params = {p.name: p.arm() for p in params.ordered()}
    template = {"$schema": TEMPLATE_SCHEMA, "contentVersion": "1.0.0.0", "parameters": arm_params,
                "variables": {"factoryId": FACTORY_ID}, "resources": resources}
    parameters_file = parameters_document(arm_params)
    linked = linked_templates(template, name)
    return BuildResult(name, template, parameters_file, linked,
                       globals_doc if src.factory is not None else None, src.counts(), warnings)


def _object_resource(obj: FactoryObject, definition: Any, params: Parameters,
                     hits: dict[tuple[str, str], set[str]], index: Any, include_factory: bool) -> dict[str, Any]:
    """One factory object as ADF's Publish writes its resource: normalised, parameterised, with dependsOn."""
    props = escape(obj.properties)  # escape() builds new containers: the source stays untouched
    if obj.kind == "linkedServices":
        apply_secrets(obj.name, props, params, obj.file)
    elif obj.kind == "pipelines":
        normalize.pipeline(props)
    elif obj.kind == "datasets":
        normalize.dataset(props)
    elif obj.kind == "dataflows":
        normalize.dataflow(props)
    res: dict[str, Any] = {"name": _resource_name(obj), "type": PREFIX + obj.kind, "apiVersion": API_VERSION,
                           "properties": props}
    otype = str(props.get("type") or "")
    tree = definition_for(definition, PREFIX + obj.kind, otype)
    if tree is not None:
        key = ((PREFIX + obj.kind).lower(), definition_key(PREFIX + obj.kind, definition, otype))
        Parameterizer(params, obj.name, obj.file, hits.setdefault(key, set())).apply(tree, res, [])
    res["dependsOn"] = (["[variables('factoryId')]"] if include_factory else []) + _depends_on(obj, index)
    return res


def _unused_definition_warnings(src: FactorySource, hits: dict[tuple[str, str], set[str]]) -> list[Problem]:
    """Definition entries that matched nothing: warnings, since ADF's own default template has such entries."""
    if src.definition is None:
        return []
    warnings: list[Problem] = []
    for rtype, otype in definition_entries(src.definition):
        if (rtype.lower(), otype) not in hits and otype != "*":
            where = f"$[{rtype!r}]" + (f".{otype}" if otype else "")
            what = (f"no {otype!r} {rtype[len(PREFIX):]} in the factory" if otype else
                    f"no {rtype[len(PREFIX):]} in the factory" if rtype.lower() != T_FACTORY.lower() else
                    "the factory is not in the template (includeFactoryTemplate)")
            warnings.append(Problem(src.definition_file, where, f"{what}: this definition parameterizes nothing",
                                    "definition_unused"))
    return warnings


def _global_parameters(src: FactorySource) -> dict[str, Any]:
    if src.factory is not None:
        gp = (src.factory.doc.get("properties") or {}).get("globalParameters")
        if isinstance(gp, dict) and gp:
            return gp
    return dict(src.global_parameters or {})


def _factory_resource(factory: FactoryObject, definition: Mapping[str, Any], params: Parameters,
                      embed_globals: bool, hits: set[str]) -> dict[str, Any]:
    doc = factory.doc
    props = copy.deepcopy(doc.get("properties") or {})
    props.pop("repoConfiguration", None)
    if not embed_globals:
        props.pop("globalParameters", None)
    res: dict[str, Any] = {"name": "[parameters('factoryName')]", "type": T_FACTORY, "apiVersion": API_VERSION,
                           "properties": escape(props), "dependsOn": []}
    if "location" in doc:
        res["location"] = doc["location"]
    identity = doc.get("identity")
    if isinstance(identity, dict):
        res["identity"] = {k: v for k, v in identity.items() if k not in ("principalId", "tenantId")}
    tree = definition_for(definition, T_FACTORY, None)
    if tree is not None:
        Parameterizer(params, "dataFactory", factory.file, hits).apply(tree, res, [])
    return res


def parameters_document(arm_params: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: {"value": p.get("defaultValue", "")} for k, p in arm_params.items()}
    return {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0", "parameters": values}


def _graph(resources: list[dict[str, Any]]) -> list[list[int]]:
    """For each resource, the indexes of the template's resources it depends on (the factory aside)."""
    by_dep = {_self_ref(r): i for i, r in enumerate(resources)}
    out = []
    for i, r in enumerate(resources):
        js = [by_dep.get(d) for d in r.get("dependsOn") or [] if d != FACTORY_DEP]
        out.append([j for j in js if j is not None and j != i])
    return out


def _levels(resources: list[dict[str, Any]]) -> tuple[list[int], list[int] | None]:
    """Each resource's depth in the dependsOn graph (0: depends on nothing) and a cycle, if there is one.

    Iterative depth-first search: a chain of thousands of pipelines does not hit Python's recursion limit.
    """
    deps = _graph(resources)
    n = len(resources)
    level, state = [0] * n, [0] * n  # state: 0 unseen, 1 on the stack, 2 done
    cycle: list[int] | None = None
    for start in range(n):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, 0)]
        while stack:
            i, k = stack[-1]
            if k < len(deps[i]):
                stack[-1] = (i, k + 1)
                j = deps[i][k]
                if state[j] == 0:
                    state[j] = 1
                    stack.append((j, 0))
                elif state[j] == 1 and cycle is None:
                    on_stack = [x for x, _ in stack]
                    cycle = on_stack[on_stack.index(j):]
            else:
                stack.pop()
                state[i] = 2
                level[i] = max((level[j] + 1 for j in deps[i] if state[j] == 2), default=0)
    return level, cycle


def _self_ref(r: dict[str, Any]) -> str:
    kind = r["type"][len(PREFIX):] if r["type"].startswith(PREFIX) else ""
    if r["type"] == T_FACTORY:
        return "[variables('factoryId')]"
    name = r["name"][len("[concat(parameters('factoryName'), '/"):-len("')]")]
    if kind == MPE_KIND:
        return "[concat(variables('factoryId'), '/" + kind.split("/")[0] + "/" + name + "')]"
    return "[concat(variables('factoryId'), '/" + kind + "/" + name + "')]"


_PARAM_USE = re.compile(r"parameters\('((?:[^']|'')*)'\)")


def _uses(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if "parameters('" in value:
            found.update(m.replace("''", "'") for m in _PARAM_USE.findall(value))
    elif isinstance(value, dict):
        for v in value.values():
            _uses(v, found)
    elif isinstance(value, list):
        for v in value:
            _uses(v, found)


def linked_templates(template: dict[str, Any], factory_name: str) -> dict[str, dict[str, Any]]:
    """ADF's linked templates: resources in dependency levels, chunks of LINKED_CHUNK, chained in order."""
    resources = template["resources"]
    levels, _ = _levels(resources)
    order = sorted(range(len(resources)), key=lambda i: (levels[i], i))
    chunks = [order[i:i + LINKED_CHUNK] for i in range(0, len(order), LINKED_CHUNK)]
    all_params = template["parameters"]
    out: dict[str, dict[str, Any]] = {}
    deployments = []
    for n, chunk in enumerate(chunks):
        refs = {_self_ref(resources[i]) for i in chunk}
        child_res = []
        for i in chunk:
            r = dict(resources[i])  # shallow: children share the (read-only) properties with the template
            # earlier children are deployed before (chained); the factory is not a dependency inside a child
            r["dependsOn"] = [d for d in r.get("dependsOn") or [] if d in refs and d != FACTORY_DEP]
            child_res.append(r)
        used: set[str] = set()
        _uses(child_res, used)
        child_params = {k: v for k, v in all_params.items() if k == "factoryName" or k in used}
        out[f"ArmTemplate_{n}.json"] = {"$schema": TEMPLATE_SCHEMA, "contentVersion": "1.0.0.0",
                                         "parameters": child_params, "variables": {"factoryId": FACTORY_ID},
                                         "resources": child_res}
        dep_name = f"{factory_name}_ArmTemplate_{n}"
        deployments.append({
            "name": dep_name, "type": "Microsoft.Resources/deployments", "apiVersion": DEPLOYMENTS_API_VERSION,
            "properties": {
                "mode": "incremental",
                "templateLink": {"uri": f"[concat(parameters('containerUri'), '/ArmTemplate_{n}.json', "
                                        "parameters('containerSasToken'))]", "contentVersion": "1.0.0.0"},
                "parameters": {k: {"value": f"[parameters('{k.replace(chr(39), chr(39) * 2)}')]"}
                               for k in child_params},
            },
            "dependsOn": ([f"[resourceId('Microsoft.Resources/deployments', '{factory_name}_ArmTemplate_{n - 1}')]"]
                          if n else []),
        })
    master_params = dict(all_params)
    master_params["containerUri"] = {"type": "string", "metadata": "URI to storage account containing linked "
                                                                   "ARM templates"}
    master_params["containerSasToken"] = {"type": "string", "metadata": "Sas token to storage account containing "
                                                                        "linked ARM templates"}
    out["ArmTemplate_master.json"] = {"$schema": TEMPLATE_SCHEMA, "contentVersion": "1.0.0.0",
                                      "parameters": master_params, "variables": {"factoryId": FACTORY_ID},
                                      "resources": deployments}
    out["ArmTemplateParameters_master.json"] = parameters_document(master_params)
    return out


def _cycle_problem(objs: list[FactoryObject | None], resources: list[dict[str, Any]]) -> Problem:
    names = [f"{o.kind[:-1]} {o.name!r}" for o in objs if o is not None]
    first, second = objs[0], objs[1] if len(objs) > 1 else objs[0]
    path = "$"
    if first is not None and second is not None:
        path = next((p for kind, name, p in first.references
                     if kind == second.kind and name.lower() == second.name.lower()), "$")
    return Problem(first.file if first is not None else "", path,
                   "circular reference: " + " -> ".join([*names, names[0]]) + " (ARM cannot order a cycle)",
                   "circular_reference")


def _invalid(problems: list[Problem]) -> FactoryValidationError:
    lines = [str(p) for p in problems]
    head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the factory JSON"
    return FactoryValidationError(head + ": " + "; ".join(lines[:20]) + ("; ..." if len(lines) > 20 else ""),
                                  details=[p.to_json() for p in problems])


def build_factory(files: Mapping[str, bytes], root: str = "", factory_name: str | None = None) -> BuildResult:
    """Validate and build the factory below ``root`` in ``files`` (repository-relative path -> bytes)."""
    src = read_source(files, root, factory_name)
    return build_source(src, factory_name)


def validate_factory(files: Mapping[str, bytes], root: str = "", factory_name: str | None = None) -> list[Problem]:
    """Every problem ``build_factory`` would refuse (empty: it builds)."""
    src = read_source(files, root, factory_name)
    try:
        build_source(src, factory_name)
    except FactoryValidationError as exc:
        return [Problem(d["file"], d["path"], d["message"], d["code"]) for d in exc.details]
    return []
