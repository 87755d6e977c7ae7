"""Read a factory's collaboration-branch JSON (what ADF's Git integration writes) and validate it.

Layout below the ADF root folder: one folder per object type (``pipeline/``,
``dataset/``, ``linkedService/``, ``trigger/``, ``dataflow/``,
``integrationRuntime/``, ``credential/``, ``adfcdc/``, ``factory/``),
``managedVirtualNetwork/<vnet>.json`` with its private endpoints in
``managedVirtualNetwork/<vnet>/managedPrivateEndpoint/*.json``, and the optional
``publish_config.json``, ``arm-template-parameters-definition.json`` and
``globalParameters/*.json``.

Validation is ADF's "Validate all" plus what makes a template undeployable: invalid JSON,
an object without a name, a duplicate name (names are case-insensitive within a type), an
object in an unknown folder, a reference to an object that does not exist. Every problem
names the file and the JSON path.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import BadRequest

# folder -> (ARM child type of Microsoft.DataFactory/factories, reference type used by other objects)
FOLDERS: dict[str, str] = {
    "pipeline": "pipelines",
    "dataset": "datasets",
    "linkedService": "linkedServices",
    "trigger": "triggers",
    "dataflow": "dataflows",
    "integrationRuntime": "integrationRuntimes",
    "credential": "credentials",
    "adfcdc": "adfcdcs",
    "managedVirtualNetwork": "managedVirtualNetworks",
}
MPE_FOLDER = "managedPrivateEndpoint"
MPE_KIND = "managedVirtualNetworks/managedPrivateEndpoints"
OTHER_FOLDERS = ("factory", "globalParameters")
ROOT_FILES = ("publish_config.json", "arm-template-parameters-definition.json")
DEFINITION_FILE = "arm-template-parameters-definition.json"

# reference "type" -> the kind it points at
REFERENCE_KINDS: dict[str, str] = {
    "datasetreference": "datasets",
    "linkedservicereference": "linkedServices",
    "pipelinereference": "pipelines",
    "dataflowreference": "dataflows",
    "integrationruntimereference": "integrationRuntimes",
    "credentialreference": "credentials",
    "triggerreference": "triggers",
    "managedvirtualnetworkreference": "managedVirtualNetworks",
}
# objects every factory has without a file
BUILT_IN = {("integrationRuntimes", "autoresolveintegrationruntime")}


class FactoryValidationError(BadRequest):
    """The factory JSON cannot be built; ``details`` lists every problem (file, path, message)."""

    code = "invalid_factory"


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str
    code: str = "invalid_factory"

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "path": self.path, "message": self.message, "code": self.code}


@dataclass
class FactoryObject:
    kind: str  # ARM child type segment: pipelines, datasets, ..., managedVirtualNetworks/managedPrivateEndpoints
    name: str  # as written in the file (for private endpoints: the endpoint's own name)
    file: str  # path relative to the repository
    doc: dict[str, Any]
    vnet: str = ""  # private endpoints: their managed virtual network
    _refs: list[tuple[str, str, str]] | None = field(default=None, repr=False, compare=False)

    @property
    def properties(self) -> dict[str, Any]:
        props = self.doc.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name.lower())

    @property
    def references(self) -> list[tuple[str, str, str]]:
        """(kind, referenceName, JSON path) of every literal reference in the properties (computed once)."""
        if self._refs is None:
            self._refs = iter_references(self.properties, "$.properties")
        return self._refs


@dataclass
class FactorySource:
    """The parsed factory: objects by kind, the factory document, publish config and parameter definition."""

    root: str
    objects: list[FactoryObject] = field(default_factory=list)
    factory: FactoryObject | None = None
    factories: list[FactoryObject] = field(default_factory=list)
    publish_config: dict[str, Any] = field(default_factory=dict)
    definition: dict[str, Any] | None = None
    definition_file: str = ""
    global_parameters: dict[str, Any] | None = None  # the separate globalParameters/ file, when there is one
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def by_key(self) -> dict[tuple[str, str], FactoryObject]:
        return {o.key: o for o in self.objects}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.objects:
            out[o.kind] = out.get(o.kind, 0) + 1
        return out


def _rel(root: str, path: str) -> str:
    return posixpath.join(root, path) if root else path


def parse_json(data: bytes, file: str, problems: list[Problem]) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        problems.append(Problem(file, "$", f"not UTF-8 ({exc.reason} at byte {exc.start})", "invalid_json"))
    except json.JSONDecodeError as exc:
        problems.append(Problem(file, "$", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                                "invalid_json"))
    return None


def read_source(files: Mapping[str, bytes], root: str = "", factory_name: str | None = None) -> FactorySource:
    """Parse and validate the factory below ``root`` (repository-relative; '' or '/' is the repository root).

    ``files`` maps repository-relative POSIX paths to bytes. ``factory_name`` picks the factory
    document when ``factory/`` holds several. Problems are collected, not raised.
    """
    root = posixpath.normpath(root.strip("/")) if root and root.strip("/") not in ("", ".") else ""
    prefix = root + "/" if root else ""
    src = FactorySource(root=root)
    problems = src.problems

    rel_files = {p[len(prefix):]: d for p, d in files.items() if p.startswith(prefix)}
    for rel, data in sorted(rel_files.items()):
        if not rel.lower().endswith(".json"):
            continue
        parts = rel.split("/")
        file = _rel(root, rel)
        if len(parts) == 1:
            _read_root_file(src, rel, file, data)
            continue
        folder = parts[0]
        if folder in FOLDERS and len(parts) == 2:
            _add_object(src, FOLDERS[folder], file, data)
        elif folder == "managedVirtualNetwork" and len(parts) == 4 and parts[2] == MPE_FOLDER:
            _add_object(src, MPE_KIND, file, data, vnet=parts[1])
        elif folder == "factory" and len(parts) == 2:
            _read_factory(src, file, data)
        elif folder == "globalParameters" and len(parts) == 2:
            doc = parse_json(data, file, problems)
            if isinstance(doc, dict):
                src.global_parameters = doc
        elif (folder in FOLDERS or folder in OTHER_FOLDERS) and _looks_like_adf(data):
            problems.append(Problem(file, "$", f"ADF keeps {folder} objects directly in {folder}/, not in a "
                                    "subfolder: this file is not part of the factory", "unknown_folder"))
        elif _looks_like_adf(data):
            where = folder if len(parts) > 1 else rel
            known = ", ".join(sorted(FOLDERS) + list(OTHER_FOLDERS))
            problems.append(Problem(file, "$", f"unknown object folder {where!r} for a Data Factory object "
                                    f"(known: {known}; private endpoints go in "
                                    f"managedVirtualNetwork/<name>/{MPE_FOLDER}/)", "unknown_folder"))
    _pick_factory(src, factory_name)
    _check_duplicates(src)
    _check_references(src)
    return src


def _read_root_file(src: FactorySource, rel: str, file: str, data: bytes) -> None:
    """``publish_config.json`` and the parameter definition; other root files are not the factory's."""
    problems = src.problems
    if rel == "publish_config.json":
        doc = parse_json(data, file, problems)
        if doc is not None and not isinstance(doc, dict):
            problems.append(Problem(file, "$", "publish_config.json must be a JSON object"))
        src.publish_config = doc if isinstance(doc, dict) else {}
    elif rel == DEFINITION_FILE:
        doc = parse_json(data, file, problems)
        if doc is not None and not isinstance(doc, dict):
            problems.append(Problem(file, "$", "the parameter definition must be a JSON object"))
        elif doc is not None:
            src.definition, src.definition_file = doc, file


def _read_factory(src: FactorySource, file: str, data: bytes) -> None:
    """A document of ``factory/``: one factory (a repository may hold several)."""
    doc = parse_json(data, file, src.problems)
    if isinstance(doc, dict):
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            src.problems.append(Problem(file, "$.name", "a factory document needs a name"))
        else:
            src.factories.append(FactoryObject("factories", name, file, doc))
    elif doc is not None:
        src.problems.append(Problem(file, "$", "a factory document must be a JSON object"))


def _looks_like_adf(data: bytes) -> bool:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (isinstance(doc, dict) and isinstance(doc.get("name"), str) and isinstance(doc.get("properties"), dict)
            and str(doc.get("type", "Microsoft.DataFactory/")).lower().startswith("microsoft.datafactory/"))


def _add_object(src: FactorySource, kind: str, file: str, data: bytes, vnet: str = "") -> None:
    doc = parse_json(data, file, src.problems)
    if doc is None:
        return
    if not isinstance(doc, dict):
        src.problems.append(Problem(file, "$", "an object file must be a JSON object"))
        return
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        src.problems.append(Problem(file, "$.name", "the object has no name"))
        return
    props = doc.get("properties")
    if props is not None and not isinstance(props, dict):
        src.problems.append(Problem(file, "$.properties", "properties must be a JSON object"))
        return
    declared = doc.get("type")
    if isinstance(declared, str) and declared:
        want = "microsoft.datafactory/factories/" + kind.lower()
        if declared.lower() != want:
            src.problems.append(Problem(file, "$.type", f"type {declared!r} does not belong in this folder "
                                        f"(expected Microsoft.DataFactory/factories/{kind})", "wrong_folder"))
            return
    src.objects.append(FactoryObject(kind, name, file, doc, vnet))


def _pick_factory(src: FactorySource, factory_name: str | None) -> None:
    if factory_name:
        match = [f for f in src.factories if f.name.lower() == factory_name.lower()]
        if match:
            src.factory = match[0]
        elif src.factories:
            names = ", ".join(f.name for f in src.factories)
            src.problems.append(Problem(_rel(src.root, "factory"), "$", f"no factory named {factory_name!r} "
                                        f"(factory/ holds: {names})", "unknown_factory"))
    elif len(src.factories) == 1:
        src.factory = src.factories[0]
    elif len(src.factories) > 1:
        names = ", ".join(f.name for f in src.factories)
        src.problems.append(Problem(_rel(src.root, "factory"), "$", f"factory/ holds several factories ({names}): "
                                    "pick one with --factory", "ambiguous_factory"))


def _check_duplicates(src: FactorySource) -> None:
    seen: dict[tuple[str, str], FactoryObject] = {}
    for o in src.objects:
        key = (o.kind, (o.vnet.lower() + "/" if o.vnet else "") + o.name.lower())
        if key in seen:
            first = seen[key]
            src.problems.append(Problem(o.file, "$.name", f"duplicate name {o.name!r}: {first.file} already defines "
                                        f"{first.name!r} (names are case-insensitive)", "duplicate_name"))
        else:
            seen[key] = o


def iter_references(node: Any, path: str = "$") -> list[tuple[str, str, str]]:
    """Every literal reference in ``node``: (kind, referenceName, JSON path of the reference), in document order."""
    out: list[tuple[str, str, str]] = []
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        cur, where = stack.pop()
        if isinstance(cur, dict):
            ref_type = cur.get("type")
            ref_name = cur.get("referenceName")
            if isinstance(ref_type, str) and isinstance(ref_name, str):
                kind = REFERENCE_KINDS.get(ref_type.lower())
                if kind:
                    out.append((kind, ref_name, where))
            children = [(v, f"{where}.{k}") for k, v in cur.items() if isinstance(v, (dict, list))]
        elif isinstance(cur, list):
            children = [(v, f"{where}[{i}]") for i, v in enumerate(cur) if isinstance(v, (dict, list))]
        else:
            continue
        stack.extend(reversed(children))
    return out


def _check_references(src: FactorySource) -> None:
    known = {o.key for o in src.objects} | BUILT_IN
    for o in src.objects:
        for kind, name, path in o.references:
            if (kind, name.lower()) not in known:
                src.problems.append(Problem(o.file, path, f"{o.kind[:-1] if o.kind.endswith('s') else o.kind} "
                                            f"{o.name!r} references {kind[:-1]} {name!r}, which does not exist",
                                            "missing_reference"))
        if o.kind == MPE_KIND and ("managedVirtualNetworks", o.vnet.lower()) not in known:
            src.problems.append(Problem(o.file, "$", f"private endpoint {o.name!r} is in managed virtual network "
                                        f"{o.vnet!r}, which does not exist", "missing_reference"))
