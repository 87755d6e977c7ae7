"""Load a factory's publish output at a commit.

Looks in the factory folder (``adf.factory_dir``, else the branch root) for,
in order: ``ARMTemplateForFactory.json`` (+ ``ARMTemplateParametersForFactory.json``),
the older ``arm_template.json`` (+ ``arm_template_parameters.json``), and
``linkedTemplates/ArmTemplate_master.json`` with its children. The full
template is used while it is within ARM's limits (800 resources, 256
parameters, 4 MB); over them, the linked layout is used: its children are
deployed one deployment each (:mod:`.linked`), and the plan, trigger
stops/starts and deletes work over the union of their resources
(``template``). A full template over the limits without linked templates is
refused, naming the limit. ``PartialArmTemplates/`` (no longer produced by
ADF) is ignored.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest
from ..git.snapshot import CommitSnapshot
from .linked import DeploymentUnit, child_file, make_unit

MAX_PARAMETERS = 256
MAX_RESOURCES = 800
MAX_TEMPLATE_BYTES = 4 * 1024 * 1024

FULL_NAMES = (("ARMTemplateForFactory.json", "ARMTemplateParametersForFactory.json"),
              ("arm_template.json", "arm_template_parameters.json"))
LINKED_DIR = "linkedTemplates"
LINKED_MASTER = "ArmTemplate_master.json"
LINKED_PARAMETERS = "ArmTemplateParameters_master.json"
# master-only parameters that locate the children in storage; meaningless once combined
LINKED_ONLY_PARAMETERS = ("containerUri", "containerSasToken")


class TemplateLoadError(BadRequest):
    code = "invalid_template"


@dataclass
class FactoryTemplate:
    """The template to deploy and the parameter values the publish output ships with."""

    template: dict[str, Any]
    parameter_values: dict[str, Any]  # {name: {"value": ...} | {"reference": ...}} from the parameters file
    folder: str
    source: str  # the file the template came from
    layout: str  # full | legacy | linked
    files: list[str] = field(default_factory=list)
    units: list[DeploymentUnit] = field(default_factory=list)  # linked: the children, one deployment each

    @property
    def resources(self) -> list[dict[str, Any]]:
        return list(self.template.get("resources") or [])


def _json(data: bytes, path: str) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TemplateLoadError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise TemplateLoadError(f"{path}: a template must be a JSON object")
    return doc


def _params_of(doc: dict[str, Any] | None) -> dict[str, Any]:
    params = (doc or {}).get("parameters") or {}
    return {k: v for k, v in params.items() if isinstance(v, dict)}


def limit_problems(template: dict[str, Any]) -> list[str]:
    """The ARM limits (256 parameters, 800 resources, 4 MB) a template breaks, described."""
    problems = []
    n_params = len(template.get("parameters") or {})
    if n_params > MAX_PARAMETERS:
        problems.append(f"{n_params} parameters (ARM allows {MAX_PARAMETERS}; reduce them with a custom "
                        "parameterization template, arm-template-parameters-definition.json)")
    n_res = len(template.get("resources") or [])
    if n_res > MAX_RESOURCES:
        problems.append(f"{n_res} resources (ARM allows {MAX_RESOURCES} per template)")
    size = len(json.dumps(template, separators=(",", ":")).encode())
    if size > MAX_TEMPLATE_BYTES:
        problems.append(f"{size / 1048576:.1f} MB (ARM allows 4 MB per template)")
    return problems


def check_limits(template: dict[str, Any], source: str, hint: str = "") -> None:
    """Refuse a template ARM would refuse (256 parameters, 800 resources, 4 MB), naming the limit."""
    problems = limit_problems(template)
    if problems:
        raise TemplateLoadError(f"{source}: the template is over ARM limits{hint}: " + "; ".join(problems),
                                code="template_over_limits", details=problems)


def _factory_folders(snapshot: CommitSnapshot) -> list[str]:
    names = {n for pair in FULL_NAMES for n in pair[:1]} | {LINKED_MASTER}
    found = set()
    for p in snapshot.files:
        base = posixpath.basename(p)
        if base in names:
            folder = posixpath.dirname(p)
            if posixpath.basename(folder) == LINKED_DIR:
                folder = posixpath.dirname(folder)
            if "PartialArmTemplates" not in p:
                found.add(folder)
    return sorted(found)


def _load_full(files: dict[str, bytes]) -> FactoryTemplate | None:
    for tpl_name, par_name in FULL_NAMES:
        if tpl_name in files:
            template = _json(files[tpl_name], tpl_name)
            pdoc = _json(files[par_name], par_name) if par_name in files else None
            return FactoryTemplate(template, _params_of(pdoc), "", tpl_name,
                                   "full" if tpl_name == FULL_NAMES[0][0] else "legacy",
                                   [tpl_name] + ([par_name] if pdoc is not None else []))
    return None


def load_factory(snapshot: CommitSnapshot, factory_dir: str | None) -> FactoryTemplate:
    """The publish output in ``factory_dir`` (the branch root when empty); checked against ARM limits."""
    folder = (factory_dir or "").strip("/")
    files = snapshot.under(folder)
    where = f"{folder or '(root)'} at {snapshot.sha[:12]}"
    linked = f"{LINKED_DIR}/{LINKED_MASTER}" in files
    result = _load_full(files)
    if result is not None and linked and limit_problems(result.template):
        result = load_linked(files, where, folder)  # over the limits: the children, one deployment each
    elif result is None and linked:
        result = load_linked(files, where, folder)
    elif result is None:
        others = [f for f in _factory_folders(snapshot) if f != folder]
        hint = (f"; factories found in: {', '.join(others)} (set adf.factory_dir)" if others else "")
        raise TemplateLoadError(f"no Data Factory publish output in {where}: expected "
                                f"ARMTemplateForFactory.json, arm_template.json or "
                                f"{LINKED_DIR}/{LINKED_MASTER}{hint}", code="template_not_found")
    result.folder = folder
    if not isinstance(result.template.get("resources"), list):
        raise TemplateLoadError(f"{result.source}: template has no resources array")
    if result.units:
        for unit in result.units:
            check_limits(unit.template, unit.file)
    else:
        check_limits(result.template, result.source, f" (and there is no {LINKED_DIR}/ to deploy instead: "
                     "publish with linked templates, or reduce the factory)")
    return result


def load_linked(files: dict[str, bytes], where: str, folder: str) -> FactoryTemplate:
    """The master's children as deployment units, and their union as the template to plan with."""
    master_path = f"{LINKED_DIR}/{LINKED_MASTER}"
    master = _json(files[master_path], master_path)
    params_path = f"{LINKED_DIR}/{LINKED_PARAMETERS}"
    pdoc = _json(files[params_path], params_path) if params_path in files else None
    resources: list[dict[str, Any]] = []
    variables: dict[str, Any] = dict(master.get("variables") or {})
    used = [master_path] + ([params_path] if pdoc else [])
    units: list[DeploymentUnit] = []
    for dep in master.get("resources") or []:
        if str(dep.get("type", "")).lower() != "microsoft.resources/deployments":
            raise TemplateLoadError(f"{master_path}: {dep.get('type')} {dep.get('name')}: a master template "
                                    "holds only the deployments of its children")
        child_name = child_file(files, master_path, dep, where)
        child = _json(files[child_name], child_name)
        if not isinstance(child.get("resources"), list):
            raise TemplateLoadError(f"{child_name}: template has no resources array")
        used.append(child_name)
        units.append(make_unit(child_name, child, dep, len(units)))
        variables.update(child.get("variables") or {})
        resources.extend(child["resources"])
    params = {k: v for k, v in (master.get("parameters") or {}).items() if k not in LINKED_ONLY_PARAMETERS}
    template = {"$schema": master.get("$schema"), "contentVersion": master.get("contentVersion", "1.0.0.0"),
                "parameters": params, "variables": variables, "resources": resources}
    values = {k: v for k, v in _params_of(pdoc).items() if k not in LINKED_ONLY_PARAMETERS}
    return FactoryTemplate(template, values, folder, master_path, "linked", used, units)
