"""Parameter values for one environment, layered and type-checked.

Order (later wins): the template's parameters file from the publish output,
then the environment's ``parameters_file`` from the repository, then
``parameters`` from the configuration. ``factoryName`` is the environment's
factory. Each value is checked against the template's declared type and
``allowedValues``; every parameter without a value and without a default is
named in one error, raised before anything changes.

Secure parameters (``secureString``/``secureObject``) and Key Vault
references are passed to ARM as given and never appear in :meth:`redacted`,
plans, logs or the audit. An empty secure value in the generated parameters
file is ADF's placeholder, not a value: it counts as missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest
from ..git.snapshot import CommitSnapshot
from .template import Secure

SECURE_TYPES = ("securestring", "secureobject")
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "securestring": (str,), "int": (int,), "bool": (bool,),
    "object": (dict,), "secureobject": (dict,), "array": (list,),
}


TEMPLATE_FILE = "the template parameters file"


class ParameterError(BadRequest):
    code = "invalid_parameters"


@dataclass
class ResolvedParameters:
    """Values by parameter name, with where each came from."""

    values: dict[str, Any] = field(default_factory=dict)  # plain values (secure ones included: never log)
    references: dict[str, Any] = field(default_factory=dict)  # Key Vault references, passed through
    secure: set[str] = field(default_factory=set)
    sources: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def arm_parameters(self) -> dict[str, Any]:
        """The deployment's ``parameters`` body: ``{name: {"value": v}}`` or ``{name: {"reference": r}}``.

        Values are literals: a string that ARM would read as an expression (``[...]``) is sent escaped
        (``[[...]``), at any depth of an object or array value, so ARM stores exactly the text given.
        """
        out: dict[str, Any] = {k: {"value": escape_literal(v)} for k, v in self.values.items()}
        out.update({k: {"reference": r} for k, r in self.references.items()})
        return out

    def for_rendering(self) -> dict[str, Any]:
        """Values for rendering the desired state: secure ones and references as :class:`Secure` markers."""
        out: dict[str, Any] = {k: (Secure(k) if k in self.secure else v) for k, v in self.values.items()}
        out.update({k: Secure(k) for k in self.references})
        return out

    def redacted(self) -> dict[str, Any]:
        """Safe to store and print: secure values and references hidden."""
        out: dict[str, Any] = {}
        for k, v in self.values.items():
            out[k] = "***" if k in self.secure else v
        for k in self.references:
            out[k] = "(key vault reference)"
        return out


def escape_literal(value: Any) -> Any:
    """``value`` with every string ARM would evaluate (``"[...]"``) escaped as ``"[[..."`` (ARM's own escape)."""
    if isinstance(value, str):
        return "[" + value if len(value) >= 2 and value[0] == "[" and value[-1] == "]" else value
    if isinstance(value, dict):
        return {k: escape_literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_literal(v) for v in value]
    return value


def _is_reference(v: Any) -> bool:
    return isinstance(v, dict) and set(v) == {"reference"} and isinstance(v["reference"], dict)


def _file_entries(doc: Any, path: str) -> dict[str, Any]:
    """A parameters file as {name: {"value"|"reference": ...}}: ARM format or a flat {name: value} map."""
    if not isinstance(doc, dict):
        raise ParameterError(f"{path}: a parameters file must be a JSON object")
    params = doc.get("parameters")
    if isinstance(params, dict) and ("$schema" in doc or all(isinstance(v, dict) for v in params.values())):
        out = {}
        for k, v in params.items():
            if not isinstance(v, dict) or not ({"value", "reference"} & set(v)):
                raise ParameterError(f"{path}: parameter {k!r} needs a \"value\" or a \"reference\"")
            out[k] = v
        return out
    return {k: ({"reference": v["reference"]} if _is_reference(v) else {"value": v}) for k, v in doc.items()}


def _check_type(name: str, decl: Mapping[str, Any], value: Any, source: str) -> str | None:
    ptype = str(decl.get("type", "string")).lower()
    allowed = _PY_TYPES.get(ptype)
    if allowed is None:
        return f"{name}: the template declares unknown type {decl.get('type')!r}"
    ok = isinstance(value, allowed) and not (ptype == "int" and isinstance(value, bool))
    if not ok:
        shown = "a secure value" if ptype in SECURE_TYPES else repr(value)[:60]
        return f"{name}: {shown} from {source} is not of type {decl.get('type')}"
    if decl.get("allowedValues") and value not in decl["allowedValues"]:
        return f"{name}: {value!r} from {source} is not one of {decl['allowedValues']}"
    return None


def _layers(file_values: Mapping[str, Any], snapshot: CommitSnapshot | None, parameters_file: str | None,
            config_values: Mapping[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """(source, {name: entry}) in the order they apply: publish output, parameters_file, configuration."""
    layers: list[tuple[str, dict[str, Any]]] = [(TEMPLATE_FILE, dict(file_values))]
    if parameters_file:
        data = snapshot.read(parameters_file) if snapshot is not None else None
        if data is None:
            raise ParameterError(f"parameters_file {parameters_file}: not found in the repository at "
                                 f"{snapshot.sha[:12] if snapshot else '?'}", code="parameters_file_not_found")
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParameterError(f"parameters_file {parameters_file}: not valid JSON ({exc})") from None
        layers.append((parameters_file, _file_entries(doc, parameters_file)))
    layers.append(("the configuration", {k: ({"reference": v["reference"]} if _is_reference(v) else {"value": v})
                                         for k, v in (config_values or {}).items()}))
    return layers


def _choose(layers: list[tuple[str, dict[str, Any]]], by_lower: Mapping[str, str], secure: set[str],
            result: ResolvedParameters) -> dict[str, tuple[str, dict[str, Any]]]:
    """The winning (source, entry) per declared parameter; unknown names become a warning."""
    chosen: dict[str, tuple[str, dict[str, Any]]] = {}
    unknown: list[str] = []
    for source, entries in layers:
        for raw, entry in entries.items():
            name = by_lower.get(raw.lower())
            if name is None:
                if source != TEMPLATE_FILE:
                    unknown.append(f"{raw} ({source})")
                continue
            if source == TEMPLATE_FILE and name in secure and "value" in entry and entry["value"] in ("", None):
                continue  # ADF's placeholder for a secret, not a value
            chosen[name] = (source, entry)
    if unknown:
        result.warnings.append("not parameters of this template (ignored): " + ", ".join(sorted(unknown)))
    return chosen


def resolve_parameters(template: Mapping[str, Any], file_values: Mapping[str, Any], *,
                       factory_name: str, snapshot: CommitSnapshot | None = None,
                       parameters_file: str | None = None,
                       config_values: Mapping[str, Any] | None = None) -> ResolvedParameters:
    """Layer, type-check and complete the values of every parameter ``template`` declares.

    Raises :class:`ParameterError` naming every missing or ill-typed
    parameter (values of secure ones never shown).
    """
    decls: dict[str, Mapping[str, Any]] = {k: v for k, v in (template.get("parameters") or {}).items()
                                           if isinstance(v, Mapping)}
    by_lower = {k.lower(): k for k in decls}
    secure = {k for k, d in decls.items() if str(d.get("type", "")).lower() in SECURE_TYPES}
    result = ResolvedParameters(secure=secure)
    chosen = _choose(_layers(file_values, snapshot, parameters_file, config_values), by_lower, secure, result)
    fname = by_lower.get("factoryname")
    if fname:
        src = chosen.get(fname)
        if src and src[0] == "the configuration" and src[1].get("value") != factory_name:
            raise ParameterError(f"factoryName {src[1].get('value')!r} in the configuration differs from the "
                                 f"environment's factory {factory_name!r}")
        chosen[fname] = ("the environment's data_factory.factory_name", {"value": factory_name})
    missing, problems = [], []
    for name, decl in decls.items():
        if name not in chosen:
            if "defaultValue" not in decl:  # with a default ARM applies it; we render it from the template
                missing.append(name)
            continue
        source, entry = chosen[name]
        result.sources[name] = source
        if "reference" in entry:
            result.references[name] = entry["reference"]
            continue
        problem = _check_type(name, decl, entry["value"], source)
        if problem:
            problems.append(problem)
        result.values[name] = entry["value"]
    if missing:
        raise ParameterError(f"{len(missing)} template parameter(s) have no value and no default: "
                             f"{', '.join(missing)} (set them in parameters_file or the environment's "
                             "parameters)", code="missing_parameter", details={"missing": missing})
    if problems:
        raise ParameterError("parameter values do not match the template: " + "; ".join(problems),
                             details={"problems": problems})
    return result


def rendering_values(template: Mapping[str, Any], resolved: ResolvedParameters) -> dict[str, Any]:
    """Every declared parameter's value for rendering: resolved, else the template's default."""
    from .template import Evaluator

    decls = template.get("parameters") or {}
    given = resolved.for_rendering()
    out: dict[str, Any] = {}
    pending = {}
    for name, decl in decls.items():
        if name in given:
            out[name] = given[name]
        elif isinstance(decl, Mapping) and "defaultValue" in decl:
            if str(decl.get("type", "")).lower() in SECURE_TYPES:
                out[name] = Secure(name)
            else:
                pending[name] = decl["defaultValue"]
    # defaults may be expressions over other parameters (e.g. "[parameters('factoryName')]")
    ev = Evaluator({**out, **pending}, template.get("variables") or {})
    for name, default in pending.items():
        out[name] = ev.render(default)
    return out
