"""Load a factory's publish output at a commit.

Looks in the factory folder (``adf.factory_dir``, else the branch root) for,
in order: ``ARMTemplateForFactory.json`` (+ ``ARMTemplateParametersForFactory.json``),
the older ``arm_template.json`` (+ ``arm_template_parameters.json``), and
``linkedTemplates/ArmTemplate_master.json`` with its children when that is
all there is. Linked templates are combined into one template (children's
resources, master's parameters): the deployment then needs no storage
account and SAS URL; a combination over ARM's limits is refused.
``PartialArmTemplates/`` (no longer produced by ADF) is ignored.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest
from ..git.snapshot import CommitSnapshot

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


def check_limits(template: dict[str, Any], source: str) -> None:
    """Refuse a template ARM would refuse (256 parameters, 800 resources, 4 MB), naming the limit."""
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
    if problems:
        raise TemplateLoadError(f"{source}: the template is over ARM limits: " + "; ".join(problems),
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


def load_factory(snapshot: CommitSnapshot, factory_dir: str | None) -> FactoryTemplate:
    """The publish output in ``factory_dir`` (the branch root when empty); checked against ARM limits."""
    folder = (factory_dir or "").strip("/")
    files = snapshot.under(folder)
    where = f"{folder or '(root)'} at {snapshot.sha[:12]}"

    for tpl_name, par_name in FULL_NAMES:
        if tpl_name in files:
            template = _json(files[tpl_name], tpl_name)
            pdoc = _json(files[par_name], par_name) if par_name in files else None
            result = FactoryTemplate(template, _params_of(pdoc), folder, tpl_name,
                                     "full" if tpl_name == FULL_NAMES[0][0] else "legacy",
                                     [tpl_name] + ([par_name] if pdoc is not None else []))
            break
    else:
        master_path = f"{LINKED_DIR}/{LINKED_MASTER}"
        if master_path in files:
            result = _combine_linked(files, where, folder)
        else:
            others = [f for f in _factory_folders(snapshot) if f != folder]
            hint = (f"; factories found in: {', '.join(others)} (set adf.factory_dir)" if others else "")
            raise TemplateLoadError(f"no Data Factory publish output in {where}: expected "
                                    f"ARMTemplateForFactory.json, arm_template.json or "
                                    f"{LINKED_DIR}/{LINKED_MASTER}{hint}", code="template_not_found")
    if not isinstance(result.template.get("resources"), list):
        raise TemplateLoadError(f"{result.source}: template has no resources array")
    check_limits(result.template, result.source)
    return result


def _combine_linked(files: dict[str, bytes], where: str, folder: str) -> FactoryTemplate:
    """One template from the master and the children it links (in the master's order)."""
    master_path = f"{LINKED_DIR}/{LINKED_MASTER}"
    master = _json(files[master_path], master_path)
    params_path = f"{LINKED_DIR}/{LINKED_PARAMETERS}"
    pdoc = _json(files[params_path], params_path) if params_path in files else None
    resources: list[dict[str, Any]] = []
    variables: dict[str, Any] = dict(master.get("variables") or {})
    used = [master_path] + ([params_path] if pdoc else [])
    for dep in master.get("resources") or []:
        if str(dep.get("type", "")).lower() != "microsoft.resources/deployments":
            resources.append(dep)
            continue
        uri = json.dumps(((dep.get("properties") or {}).get("templateLink") or {}).get("uri", ""))
        child_name = next((n for n in sorted(files, key=len, reverse=True)
                           if n.startswith(f"{LINKED_DIR}/ArmTemplate_") and n != master_path
                           and f"/{posixpath.basename(n)}" in uri), None)
        if child_name is None:
            raise TemplateLoadError(f"{master_path}: linked template {uri} is not in {where}")
        child = _json(files[child_name], child_name)
        used.append(child_name)
        variables.update(child.get("variables") or {})
        for res in child.get("resources") or []:
            # dependsOn between children is expressed on the deployments; inside one template
            # ARM orders by the resources' own dependsOn, which the children already carry.
            resources.append(res)
    params = {k: v for k, v in (master.get("parameters") or {}).items() if k not in LINKED_ONLY_PARAMETERS}
    template = {"$schema": master.get("$schema"), "contentVersion": master.get("contentVersion", "1.0.0.0"),
                "parameters": params, "variables": variables, "resources": resources}
    values = {k: v for k, v in _params_of(pdoc).items() if k not in LINKED_ONLY_PARAMETERS}
    return FactoryTemplate(template, values, folder, master_path, "linked", used)
