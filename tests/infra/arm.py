"""A small ARM template expression parser and evaluator, for checking infra/main.json without Azure.

It understands the subset of the ARM template language the template uses
(functions, property access, indexing, copy loops, conditions, nested
deployments with inner scope) and expands a template with a parameter file
into the flat list of resources Azure Resource Manager would deploy, each with
its evaluated properties and the full id of the scope it lands in. Functions
it does not know raise, so a typo in the template fails a test rather than
passing silently. ``reference()`` returns a placeholder (runtime values do not
exist offline).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Prop:
    target: Any
    name: str


@dataclass(frozen=True)
class Index:
    target: Any
    index: Any


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<p>[(),.\[\]]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"cannot tokenize {text[pos:]!r} in {text!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise SyntaxError(f"expected {value!r} at token {self.i} in {self.text!r}")
        self.i += 1
        return tok

    def expr(self) -> Any:
        kind, val = self.take()
        node: Any
        if kind == "str":
            node = Lit(val[1:-1].replace("''", "'"))
        elif kind == "num":
            node = Lit(int(val))
        elif kind == "id":
            self.take("(")
            args: list[Any] = []
            if self.peek() != ("p", ")"):
                args.append(self.expr())
                while self.peek() == ("p", ","):
                    self.take(",")
                    args.append(self.expr())
            self.take(")")
            node = Call(val.lower(), tuple(args))
        else:
            raise SyntaxError(f"unexpected {val!r} in {self.text!r}")
        while self.peek() in (("p", "."), ("p", "[")):
            if self.take()[1] == ".":
                node = Prop(node, self.take()[1])
            else:
                node = Index(node, self.expr())
                self.take("]")
        return node


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


def parse(expression: str) -> Any:
    """Parse one ``[...]`` template expression into a tree of Call/Lit/Prop/Index."""
    parser = _Parser(expression[1:-1])
    node = parser.expr()
    if parser.peek() is not None:
        raise SyntaxError(f"trailing tokens in {expression!r}")
    return node


def walk(node: Any) -> Iterator[Any]:
    """Every node of an expression tree."""
    yield node
    if isinstance(node, Call):
        for a in node.args:
            yield from walk(a)
    elif isinstance(node, Prop):
        yield from walk(node.target)
    elif isinstance(node, Index):
        yield from walk(node.target)
        yield from walk(node.index)


def expressions(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every (json path, expression string) in a JSON value, keys included; nested templates excluded."""
    if isinstance(value, dict):
        for k, v in value.items():
            if is_expression(k):
                yield f"{path}.<key>", k
            if k == "template" and isinstance(v, dict) and "resources" in v:
                continue  # a nested template is its own scope
            yield from expressions(v, f"{path}.{k}")
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from expressions(v, f"{path}[{n}]")
    elif is_expression(value):
        yield path, value


# ---------------------------------------------------------------- evaluation


class Reference(str):
    """Placeholder for reference(): a string naming the resource and the property path read from it."""

    def get(self, name: str) -> Reference:
        return Reference(f"{self}.{name}")


def unique_string(*parts: str) -> str:
    """Deterministic 13-character stand-in for ARM's uniqueString()."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(alphabet[b % 32] for b in digest[:13])


def arm_guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(parts)))


@dataclass
class Scope:
    subscription_id: str
    resource_group: str
    location: str = "westeurope"
    tenant_id: str = "11111111-1111-1111-1111-111111111111"

    @property
    def rg_id(self) -> str:
        if not self.resource_group:
            raise ValueError("resourceGroup() used in a subscription-scope template")
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"


class UnknownFunction(Exception):
    pass


@dataclass
class Context:
    template: dict[str, Any]
    params: dict[str, Any]
    scope: Scope
    copy_index: dict[str, int] = field(default_factory=dict)
    _vars: dict[str, Any] = field(default_factory=dict)
    _evaluating: set[str] = field(default_factory=set)

    def with_loop(self, name: str, i: int) -> Context:
        ctx = Context(self.template, self.params, self.scope, {**self.copy_index, name: i, "": i}, self._vars)
        return ctx

    # values
    def value(self, value: Any) -> Any:
        """Deep-evaluate a JSON value: expressions in strings and keys."""
        if isinstance(value, dict):
            return {(self.value(k) if is_expression(k) else k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            if is_expression(value):
                return self.eval(parse(value))
            if value.startswith("[["):
                return value[1:]
        return value

    def variable(self, name: str) -> Any:
        if name in self._vars:
            return self._vars[name]
        variables = self.template.get("variables", {})
        if name in self._evaluating:
            raise ValueError(f"variable {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            loops = {c["name"]: c for c in variables.get("copy", [])}
            if name in loops:
                loop = loops[name]
                count = self.value(loop["count"])
                result = [self.with_loop(name, i).value(loop["input"]) for i in range(count)]
            elif name in variables and name != "copy":
                result = self.value(variables[name])
            else:
                raise KeyError(f"variables('{name}') is not defined")
        finally:
            self._evaluating.discard(name)
        self._vars[name] = result
        return result

    def eval(self, node: Any) -> Any:
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Prop):
            target = self.eval(node.target)
            if isinstance(target, Reference):
                return target.get(node.name)
            if not isinstance(target, dict):
                raise TypeError(f".{node.name} on {type(target).__name__}")
            for k, v in target.items():
                if k.lower() == node.name.lower():
                    return v
            raise KeyError(f"property {node.name!r} not in {sorted(target)}")
        if isinstance(node, Index):
            target, index = self.eval(node.target), self.eval(node.index)
            return target[index]
        assert isinstance(node, Call)
        if node.name == "if":  # only the branch taken is evaluated, as in ARM
            cond = self.eval(node.args[0])
            return self.eval(node.args[1] if cond else node.args[2])
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            raise UnknownFunction(node.name)
        return fn(self, *[self.eval(a) for a in node.args])


def _resource_id(scope_prefix: str, rtype: str, names: list[str]) -> str:
    segments = rtype.split("/")
    namespace, types = segments[0], segments[1:]
    if len(types) != len(names):
        raise ValueError(f"resourceId({rtype}) needs {len(types)} names, got {names}")
    tail = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    return f"{scope_prefix}/providers/{namespace}/{tail}"


def _resource_id_fn(ctx: Context, *args: str) -> str:
    at = next(i for i, a in enumerate(args) if "/" in a)
    lead, rtype, names = list(args[:at]), args[at], list(args[at + 1:])
    sub = lead[0] if len(lead) == 2 else ctx.scope.subscription_id
    rg = lead[-1] if lead else ctx.scope.resource_group
    return _resource_id(f"/subscriptions/{sub}/resourceGroups/{rg}", rtype, names)


def _subscription_resource_id(ctx: Context, *args: str) -> str:
    at = next(i for i, a in enumerate(args) if "/" in a)
    sub = args[0] if at == 1 else ctx.scope.subscription_id
    return _resource_id(f"/subscriptions/{sub}", args[at], list(args[at + 1:]))


def _format(ctx: Context, fmt: str, *args: Any) -> str:
    return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), fmt)


def _union(ctx: Context, *args: Any) -> Any:
    if all(isinstance(a, dict) for a in args):
        out: dict[str, Any] = {}
        for a in args:
            out.update(a)
        return out
    seen: list[Any] = []
    for a in args:
        for item in a:
            if item not in seen:
                seen.append(item)
    return seen


def _copy_index(ctx: Context, *args: Any) -> int:
    name = next((a for a in args if isinstance(a, str)), "")
    offset = next((a for a in args if isinstance(a, int)), 0)
    if name not in ctx.copy_index:
        raise KeyError(f"copyIndex({name!r}) outside its loop")
    return ctx.copy_index[name] + offset


def _parameters(ctx: Context, name: str) -> Any:
    if name not in ctx.params:
        raise KeyError(f"parameters('{name}') is not defined or has no value")
    return ctx.params[name]


def _runtime(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A function whose result is known only at run time when an argument is (a reference() value)."""

    def wrapped(ctx: Context, *args: Any) -> Any:
        out = fn(ctx, *args)
        if isinstance(out, str) and any(_has_reference(a) for a in args):
            return Reference(out)
        return out

    return wrapped


def _has_reference(value: Any) -> bool:
    if isinstance(value, Reference):
        return True
    if isinstance(value, dict):
        return any(_has_reference(k) or _has_reference(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


def _known(value: Any) -> Any:
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dict):
        return {_known(k): _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return value


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "parameters": _parameters,
    "variables": lambda ctx, name: ctx.variable(name),
    "copyindex": _copy_index,
    "concat": _runtime(lambda ctx, *a: [x for part in a for x in part] if a and isinstance(a[0], list)
                       else "".join(str(x) for x in a)),
    "format": _runtime(_format),
    "guid": _runtime(lambda ctx, *a: arm_guid(*a)),
    "uniquestring": _runtime(lambda ctx, *a: unique_string(*a)),
    "take": _runtime(lambda ctx, v, n: v[:n]),
    "tolower": _runtime(lambda ctx, v: v.lower()),
    "replace": _runtime(lambda ctx, v, old, new: v.replace(old, new)),
    "length": lambda ctx, v: len(v),
    "empty": lambda ctx, v: v is None or len(v) == 0,
    "equals": lambda ctx, a, b: a == b,
    "greater": lambda ctx, a, b: a > b,
    "not": lambda ctx, v: not v,
    "and": lambda ctx, *a: all(a),
    "or": lambda ctx, *a: any(a),
    "true": lambda ctx: True,
    "false": lambda ctx: False,
    "null": lambda ctx: None,
    "contains": lambda ctx, c, v: v in c,
    "union": _union,
    "createarray": lambda ctx, *a: list(a),
    "createobject": lambda ctx, *a: {a[i]: a[i + 1] for i in range(0, len(a), 2)},
    "items": lambda ctx, obj: [{"key": k, "value": obj[k]} for k in sorted(obj, key=str.lower)],
    "resourceid": _resource_id_fn,
    "subscriptionresourceid": _subscription_resource_id,
    "extensionresourceid": lambda ctx, base, rtype, *names: _resource_id(base, rtype, list(names)),
    "resourcegroup": lambda ctx: {"id": ctx.scope.rg_id, "name": ctx.scope.resource_group,
                                  "location": ctx.scope.location},
    "subscription": lambda ctx: {"id": f"/subscriptions/{ctx.scope.subscription_id}",
                                 "subscriptionId": ctx.scope.subscription_id, "tenantId": ctx.scope.tenant_id},
    "environment": lambda ctx: {"name": "AzureCloud", "suffixes": {"keyvaultDns": ".vault.azure.net",
                                                                   "storage": "core.windows.net"},
                                "authentication": {"loginEndpoint": "https://login.microsoftonline.com/"}},
    "reference": lambda ctx, rid, *rest: Reference(f"<reference:{rid}>"),
}


# ---------------------------------------------------------------- expansion


@dataclass
class Deployed:
    """One resource as Resource Manager would create it."""

    type: str
    name: str
    scope: Scope
    resource: dict[str, Any]  # evaluated, without nested template
    extension_scope: str | None  # full id of the resource an extension resource (role assignment) sits on
    depth: int

    @property
    def target_scope_id(self) -> str:
        """Full id of the scope of an extension resource: the resource in ``scope``, else the resource group."""
        return self.extension_scope or self.scope.rg_id


def parameter_values(template: dict[str, Any], given: dict[str, Any], ctx_scope: Scope) -> dict[str, Any]:
    """Parameter values: the given ones, then defaults (evaluated); missing required ones raise."""
    values: dict[str, Any] = {}
    unknown = set(given) - set(template.get("parameters", {}))
    if unknown:
        raise KeyError(f"parameters not defined by the template: {sorted(unknown)}")
    ctx = Context(template, values, ctx_scope)
    for name, spec in template.get("parameters", {}).items():
        if name in given:
            values[name] = given[name]
        elif "defaultValue" in spec:
            values[name] = ctx.value(spec["defaultValue"])
        else:
            raise KeyError(f"parameter {name!r} has no value and no default")
        allowed = spec.get("allowedValues")
        if allowed is not None and values[name] not in allowed:
            raise ValueError(f"parameter {name!r}: {values[name]!r} not in {allowed}")
    return values


def expand(template: dict[str, Any], given: dict[str, Any], scope: Scope, depth: int = 0) -> list[Deployed]:
    """Every resource the template deploys with these parameter values, nested deployments expanded."""
    ctx = Context(template, parameter_values(template, given, scope), scope)
    out: list[Deployed] = []
    for res in template.get("resources", []):
        loop = res.get("copy")
        contexts = ([ctx.with_loop(loop["name"], i) for i in range(ctx.value(loop["count"]))] if loop else [ctx])
        for c in contexts:
            if "condition" in res and not c.value(res["condition"]):
                continue
            body = {k: v for k, v in res.items() if k != "properties"}
            props = res.get("properties", {})
            nested = props.get("template") if res["type"] == "Microsoft.Resources/deployments" else None
            evaluated = c.value(body)
            if _has_reference(evaluated):
                # Resource Manager computes names, scopes, dependencies (everything but ``properties``)
                # before it deploys anything: reference() is allowed only in properties and outputs.
                raise ValueError(f"{res['type']}: reference() outside properties (a run-time value in "
                                 f"the name, scope or another top-level field)")
            evaluated["properties"] = c.value({k: v for k, v in props.items() if k != "template"})
            ext = None
            if not scope.resource_group:
                ext = f"/subscriptions/{scope.subscription_id}"
            if "scope" in evaluated:
                s = evaluated["scope"]
                ext = s if s.startswith("/") else f"{scope.rg_id}/providers/{s}"
            out.append(Deployed(evaluated["type"], evaluated["name"], scope, evaluated, ext, depth))
            if nested is not None:
                if props.get("expressionEvaluationOptions", {}).get("scope") != "inner":
                    raise ValueError("nested deployments must use inner expression scope")
                if "resourceGroup" not in evaluated and "subscriptionId" in evaluated:
                    # A subscription-scope deployment (subscriptionId + location, no resource group).
                    assert "location" in evaluated, "a subscription-scope deployment needs a location"
                    inner_scope = Scope(evaluated["subscriptionId"], "")
                else:
                    inner_scope = Scope(evaluated.get("subscriptionId", scope.subscription_id),
                                        evaluated.get("resourceGroup", scope.resource_group))
                # A nested deployment starts once its parameters are known: inside, they are plain values.
                inner_params = {k: _known(v["value"])
                                for k, v in evaluated["properties"].get("parameters", {}).items()}
                out.extend(expand(nested, inner_params, inner_scope, depth + 1))
    return out


def evaluate_outputs(template: dict[str, Any], given: dict[str, Any], scope: Scope) -> dict[str, Any]:
    ctx = Context(template, parameter_values(template, given, scope), scope)
    return {name: ctx.value(spec["value"]) for name, spec in template.get("outputs", {}).items()}
