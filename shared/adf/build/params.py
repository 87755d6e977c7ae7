"""ARM template parameters the way ADF's Publish makes them.

The parameter definition (``arm-template-parameters-definition.json`` in the ADF root, else
:data:`DEFAULT_DEFINITION`, ADF's default parameterization template) maps a resource type to a
tree of property paths. A string leaf ``<action>:<name>:<type>`` parameterizes the value there:

* action ``=`` keeps the current value as the parameter's default, ``-`` leaves it without a
  default, ``|`` is for secrets: an Azure Key Vault secret reference gets its ``secretName``
  parameterized (``<path>_secretName``, string, default kept); any other value becomes a secure
  string (default kept unless the linked service's secret lives in ``encryptedCredential``);
* name: empty = ``<object>_<path joined by _>``; ``-x`` = ``<object>_x``; ``x`` = the path with
  its last segment replaced by ``x``;
* type: ``string|securestring|int|bool|object|secureobject|array``; empty = inferred from the
  value (string, bool, int, object, array).

``*`` applies to every property at that level not named beside it (one level, not recursive).
An array ``[definition, "a.b"]`` applies the definition to every element; the element's segment
in the name is the value at ``a.b`` (else its index), and replaces the array's own name. Linked
services and datasets are keyed by their ``properties.type`` first (the type's entry, else
``*``). The factory's parameters are named ``dataFactory_...``, a private endpoint's by its own
name, the global parameters resource's ``default_...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .source import Problem

T_FACTORY = "Microsoft.DataFactory/factories"
PREFIX = T_FACTORY + "/"

DEFAULT_DEFINITION: dict[str, Any] = {
    "Microsoft.DataFactory/factories": {
        "properties": {"globalParameters": {"*": {"value": "="}}},
        "location": "=",
        "identity": {"type": "="},
    },
    "Microsoft.DataFactory/factories/globalparameters": {"properties": {"*": {"value": "="}}},
    "Microsoft.DataFactory/factories/pipelines": {},
    "Microsoft.DataFactory/factories/dataflows": {},
    "Microsoft.DataFactory/factories/integrationRuntimes": {
        "properties": {"typeProperties": {
            "ssisProperties": {
                "catalogInfo": {"catalogServerEndpoint": "=", "catalogAdminUserName": "=",
                                "catalogAdminPassword": {"value": "-::secureString"}},
                "customSetupScriptProperties": {"sasToken": {"value": "-::secureString"}},
            },
            "linkedInfo": {"key": {"value": "-::secureString"}, "resourceId": "="},
            "computeProperties": {"dataFlowProperties": {"externalComputeInfo": [{"accessToken": "-::secureString"}]}},
        }},
    },
    "Microsoft.DataFactory/factories/triggers": {
        "properties": {
            "pipelines": [{"parameters": {"*": "="}}, "pipelineReference.referenceName"],
            "pipeline": {"parameters": {"*": "="}},
            "typeProperties": {"scope": "="},
        },
    },
    "Microsoft.DataFactory/factories/linkedServices": {
        "*": {"properties": {"typeProperties": {
            "accountName": "=", "username": "=", "userName": "=", "accessKeyId": "=", "servicePrincipalId": "=",
            "userId": "=", "host": "=", "clientId": "=", "clusterUserName": "=", "clusterSshUserName": "=",
            "hostSubscriptionId": "=", "clusterResourceGroup": "=", "subscriptionId": "=",
            "resourceGroupName": "=", "tenant": "=", "dataLakeStoreUri": "=", "baseUrl": "=", "database": "=",
            "serviceEndpoint": "=", "batchUri": "=", "poolName": "=", "databaseName": "=", "systemNumber": "=",
            "server": "=", "url": "=", "functionAppUrl": "=", "environmentUrl": "=", "aadResourceId": "=",
            "sasUri": "|:-sasUri:secureString", "sasToken": "|", "connectionString": "|:-connectionString:secureString",
            "hostKeyFingerprint": "=",
        }}},
        "Odbc": {"properties": {"typeProperties": {"userName": "=", "connectionString": {"secretName": "="}}}},
    },
    "Microsoft.DataFactory/factories/datasets": {
        "*": {"properties": {"typeProperties": {"folderPath": "=", "fileName": "="}}},
    },
    "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints": {"properties": {"*": "="}},
}

# types whose definition is keyed by the object's properties.type first
TYPED = {"linkedservices", "datasets"}
TYPES = {"string": "string", "securestring": "secureString", "int": "int", "bool": "bool", "object": "object",
         "secureobject": "secureObject", "array": "array"}
KNOWN_RESOURCE_TYPES = {T_FACTORY.lower()} | {PREFIX.lower() + k for k in (
    "pipelines", "datasets", "linkedservices", "triggers", "dataflows", "integrationruntimes", "credentials",
    "adfcdcs", "managedvirtualnetworks", "managedvirtualnetworks/managedprivateendpoints", "globalparameters")}
_PARAM_REF = re.compile(r"^\[parameters\('")


def param_ref(name: str) -> str:
    return "[parameters('" + name.replace("'", "''") + "')]"


def escape(value: Any) -> Any:
    """ARM evaluates a string that starts with ``[`` and ends with ``]``: ADF writes ``[[`` for a literal one."""
    if isinstance(value, str):
        return "[" + value if value.startswith("[") and value.endswith("]") else value
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("type", "")).lower() == "expression" and "value" in value \
        and len(value) == 2


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


@dataclass
class Parameter:
    name: str
    type: str
    default: Any = None
    has_default: bool = False
    metadata: str | None = None
    secret: bool = False

    def arm(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.metadata:
            out["metadata"] = self.metadata
        if self.has_default:
            out["defaultValue"] = self.default  # taken from the escaped properties
        return out


@dataclass
class Parameters:
    """The template's parameters in ADF's order: factoryName, secrets, then the rest as met."""

    items: dict[str, Parameter] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, p: Parameter, file: str, path: str) -> str:
        old = self.items.get(p.name)
        if old is not None and (old.type != p.type or old.default != p.default or old.has_default != p.has_default):
            self.problems.append(Problem(file, path, f"parameter name {p.name!r} is produced twice with different "
                                         "values (shorten names less, or rename one object)", "parameter_collision"))
        elif old is None:
            self.items[p.name] = p
        return param_ref(p.name)

    def ordered(self) -> list[Parameter]:
        first = [p for p in self.items.values() if p.name == "factoryName"]
        secrets = [p for p in self.items.values() if p.secret and p.name != "factoryName"]
        rest = [p for p in self.items.values() if not p.secret and p.name != "factoryName"]
        return first + secrets + rest


@dataclass
class Spec:
    action: str
    name: str
    type: str


def parse_spec(text: str) -> Spec | None:
    parts = text.split(":", 2)
    action = parts[0].strip()
    name = parts[1].strip() if len(parts) > 1 else ""
    stype = parts[2].strip() if len(parts) > 2 else ""
    if action not in ("=", "-", "|"):
        return None
    if stype and stype.lower() not in TYPES:
        return None
    return Spec(action, name, TYPES[stype.lower()] if stype else "")


def check_definition(defn: Mapping[str, Any], file: str) -> list[Problem]:
    """Problems in a custom parameter definition: unknown resource types and malformed leaves."""
    problems: list[Problem] = []
    for rtype, tree in defn.items():
        path = f"$[{rtype!r}]"
        if rtype.lower() not in KNOWN_RESOURCE_TYPES:
            problems.append(Problem(file, path, f"{rtype!r} is not a Data Factory resource type: the definition "
                                    "matches nothing", "definition_matches_nothing"))
            continue
        if not isinstance(tree, dict):
            problems.append(Problem(file, path, "a resource type's definition must be a JSON object of property "
                                    "paths", "invalid_definition"))
            continue
        _check_tree(tree, path, file, problems)
    return problems


def definition_entries(defn: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(resource type, linked service/dataset type or '') of every entry of a valid definition."""
    out: list[tuple[str, str]] = []
    for rtype, tree in defn.items():
        if not isinstance(tree, dict) or rtype.lower() not in KNOWN_RESOURCE_TYPES:
            continue
        if rtype[len(PREFIX):].lower() in TYPED:
            out.extend((rtype, otype) for otype in tree)
        else:
            out.append((rtype, ""))
    return out


def _check_tree(node: Any, path: str, file: str, problems: list[Problem]) -> None:
    if isinstance(node, str):
        if parse_spec(node) is None:
            problems.append(Problem(file, path, f"{node!r} is not '<action>:<name>:<type>' (action = - or |; type "
                                    f"one of {', '.join(TYPES)})", "invalid_definition"))
    elif isinstance(node, dict):
        for k, v in node.items():
            _check_tree(v, f"{path}.{k}", file, problems)
    elif isinstance(node, list):
        if not node:
            problems.append(Problem(file, path, "an array definition needs the element definition first",
                                    "invalid_definition"))
        else:
            _check_tree(node[0], f"{path}[0]", file, problems)
            if len(node) > 1 and not isinstance(node[1], str):
                problems.append(Problem(file, f"{path}[1]", "the second entry of an array definition names the "
                                        "element's naming property (a string)", "invalid_definition"))
    else:
        problems.append(Problem(file, path, "a definition leaf must be an action string", "invalid_definition"))


def definition_for(defn: Mapping[str, Any], arm_type: str, obj_type: str | None) -> Any:
    """The tree that applies to a resource of ``arm_type`` (and, for linked services/datasets, its type)."""
    tree = None
    for k, v in defn.items():
        if k.lower() == arm_type.lower():
            tree = v
            break
    if tree is None:
        return None
    if arm_type[len(PREFIX):].lower() in TYPED and isinstance(tree, dict):
        if obj_type and obj_type in tree:
            return tree[obj_type]
        return tree.get("*")
    return tree if isinstance(tree, dict) else None


def definition_key(arm_type: str, defn: Mapping[str, Any], obj_type: str | None) -> str:
    """The linked service/dataset type entry that applies ('' for other resource types)."""
    if arm_type[len(PREFIX):].lower() not in TYPED:
        return ""
    tree = next((v for k, v in defn.items() if k.lower() == arm_type.lower()), None)
    return obj_type if isinstance(tree, dict) and obj_type and obj_type in tree else "*"


def _lookup(node: Any, dotted: str | None) -> str | None:
    if not dotted:
        return None
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) and node else None


class Parameterizer:
    """Applies one definition tree to one resource, adding to ``params`` and replacing values in place."""

    def __init__(self, params: Parameters, entity: str, file: str, hits: set[str] | None = None,
                 secret_values: bool = True) -> None:
        self.params, self.entity, self.file = params, entity, file
        self.hits = hits if hits is not None else set()
        self.secret_values = secret_values  # False: '|' strings lose their default (the secret is encrypted)

    def name_for(self, path: list[str], given: str) -> str:
        if given.startswith("-"):
            return f"{self.entity}_{given[1:]}"
        segs = [*path[:-1], given] if given else path
        return "_".join([self.entity, *segs])

    def apply(self, tree: Any, node: Any, path: list[str], dpath: str = "$") -> Any:
        if isinstance(tree, str):
            spec = parse_spec(tree)
            return node if spec is None else self._leaf(spec, node, path, dpath)
        if isinstance(tree, dict):
            if not isinstance(node, dict):
                return node
            for k, sub in tree.items():
                if k != "*" and k in node:
                    node[k] = self.apply(sub, node[k], [*path, k], f"{dpath}.{k}")
            if "*" in tree:
                for k in list(node):
                    if k not in tree:
                        node[k] = self.apply(tree["*"], node[k], [*path, k], f"{dpath}.*")
            return node
        if isinstance(tree, list) and tree:
            if not isinstance(node, list):
                return node
            label_prop = tree[1] if len(tree) > 1 and isinstance(tree[1], str) else None
            for i, el in enumerate(node):
                label = _lookup(el, label_prop) or str(i)
                node[i] = self.apply(tree[0], el, [*path[:-1], label], f"{dpath}[0]")
        return node

    def _leaf(self, spec: Spec, node: Any, path: list[str], dpath: str) -> Any:
        self.hits.add(dpath)
        if isinstance(node, str) and _PARAM_REF.match(node):
            return node  # already a parameter (a secret)
        if spec.action == "|":
            if isinstance(node, dict) and str(node.get("type", "")).lower() == "azurekeyvaultsecret":
                secret = node.get("secretName")
                if isinstance(secret, str):
                    name = "_".join([self.entity, *path, "secretName"])
                    node = dict(node)
                    node["secretName"] = self.params.add(Parameter(name, "string", secret, True), self.file, dpath)
                return node
            name = self.name_for(path, spec.name)
            masked = isinstance(node, dict) and str(node.get("type", "")).lower() == "securestring"
            keep = self.secret_values and not masked and isinstance(node, str)
            p = Parameter(name, spec.type or "secureString", node if keep else None, keep,
                          f"Secure string for '{path[-1]}' of '{self.entity}'", secret=True)
            return self.params.add(p, self.file, dpath)
        name = self.name_for(path, spec.name)
        if is_expression(node) and spec.type not in ("object", "secureObject", "array"):
            # an expression parameterizes as its text; the {"value", "type": "Expression"} wrapper stays
            inner = node["value"]
            p = Parameter(name, spec.type or infer_type(inner), inner, spec.action == "=")
            return {**node, "value": self.params.add(p, self.file, dpath)}
        ptype = spec.type or infer_type(node)
        p = Parameter(name, ptype, node, spec.action == "=" and node is not None)
        return self.params.add(p, self.file, dpath)
