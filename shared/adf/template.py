"""Render an ADF ARM template for one environment: the desired state, object by object.

Evaluates the subset of ARM template expressions that Data Factory's
publish output uses (``parameters``, ``variables``, ``concat``,
``resourceId`` and a few common string/logic functions), honours ``[[``
escapes, and turns each ``Microsoft.DataFactory/factories/*`` resource into a
:class:`DesiredObject` (object_type, name without the factory prefix,
properties). Secure parameter values are never materialised here: they
render as :class:`Secure` markers, which compare equal to anything (the
service never returns secrets, so we cannot compare them anyway) and keep
secrets out of plans and the audit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest
from .client import kind_of_arm_type


class TemplateError(BadRequest):
    code = "invalid_template"


@dataclass(frozen=True)
class Secure:
    """A value we must not see or show (a secure parameter or a Key Vault reference)."""

    parameter: str

    def __str__(self) -> str:
        return f"<secure:{self.parameter}>"


@dataclass
class DesiredObject:
    object_type: str
    name: str
    properties: dict[str, Any]
    arm_type: str = ""
    depends_on: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.object_type, self.name)


# ----------------------------------------------------------------- expressions
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<punct>[(),.\[\]]))")


def _tokenize(expr: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m:
            raise TemplateError(f"cannot parse template expression at {expr[pos:pos + 30]!r}")
        pos = m.end()
        if m.group("str") is not None:
            out.append(("str", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            n = m.group("num")
            out.append(("num", float(n) if "." in n else int(n)))
        elif m.group("name") is not None:
            out.append(("name", m.group("name")))
        else:
            out.append(("p", m.group("punct")))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.t, self.i = tokens, 0

    def peek(self) -> tuple[str, Any] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, kind: str, value: Any = None) -> Any:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise TemplateError(f"template expression: expected {value or kind}, got {tok[1] if tok else 'end'}")
        self.i += 1
        return tok[1]

    def expr(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise TemplateError("template expression: unexpected end")
        node: Any
        if tok[0] in ("str", "num"):
            self.i += 1
            node = ("lit", tok[1])
        elif tok[0] == "name":
            name = self.take("name")
            self.take("p", "(")
            args = []
            if self.peek() != ("p", ")"):
                args.append(self.expr())
                while self.peek() == ("p", ","):
                    self.i += 1
                    args.append(self.expr())
            self.take("p", ")")
            node = ("call", name, args)
        else:
            raise TemplateError(f"template expression: unexpected {tok[1]!r}")
        while self.peek() in (("p", "."), ("p", "[")):
            if self.take("p") == ".":
                node = ("member", node, ("lit", self.take("name")))
            else:
                idx = self.expr()
                self.take("p", "]")
                node = ("member", node, idx)
        return node


_PARSED: dict[str, Any] = {}


def parse_expression(expr: str) -> Any:
    """Parse the inside of ``[...]`` into a small AST (cached: templates repeat expressions a lot)."""
    node = _PARSED.get(expr)
    if node is None:
        p = _Parser(_tokenize(expr))
        node = p.expr()
        if p.peek() is not None:
            raise TemplateError(f"template expression: trailing {p.peek()[1]!r} in {expr[:80]!r}")  # type: ignore[index]
        if len(_PARSED) < 50_000:
            _PARSED[expr] = node
    return node


def _any_secure(args: list[Any]) -> Secure | None:
    for a in args:
        if isinstance(a, Secure):
            return a
    return None


def _s(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


class Evaluator:
    """Evaluates expressions with one environment's parameter values."""

    def __init__(self, parameters: Mapping[str, Any], variables: Mapping[str, Any] | None = None, *,
                 subscription_id: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "rg") -> None:
        self.params = {k.lower(): v for k, v in parameters.items()}
        self._raw_vars = {k.lower(): v for k, v in (variables or {}).items()}
        self._vars: dict[str, Any] = {}
        self.subscription_id, self.resource_group = subscription_id, resource_group
        self.functions: dict[str, Callable[[list[Any]], Any]] = {
            "parameters": self._parameters, "variables": self._variables, "concat": self._concat,
            "resourceid": self._resource_id, "format": self._format, "replace": self._replace,
            "tolower": lambda a: _s(a[0]).lower(), "toupper": lambda a: _s(a[0]).upper(),
            "string": lambda a: _s(a[0]), "int": lambda a: int(a[0]), "bool": self._bool,
            "json": lambda a: json.loads(a[0]), "if": lambda a: a[1] if a[0] else a[2],
            "equals": lambda a: a[0] == a[1], "not": lambda a: not a[0], "and": lambda a: all(a),
            "or": lambda a: any(a), "empty": lambda a: not a[0], "length": lambda a: len(a[0]),
            "createarray": lambda a: list(a), "createobject": lambda a: dict(zip(a[::2], a[1::2], strict=False)),
            "true": lambda a: True, "false": lambda a: False, "null": lambda a: None,
            "coalesce": lambda a: next((x for x in a if x is not None), None),
            "trim": lambda a: _s(a[0]).strip(), "split": lambda a: _s(a[0]).split(a[1]),
            "substring": lambda a: _s(a[0])[a[1]:(a[1] + a[2]) if len(a) > 2 else None],
            "union": self._union, "uniquestring": lambda a: "u" + format(abs(hash(tuple(map(_s, a)))), "x")[:12],
            "subscription": lambda a: {"subscriptionId": self.subscription_id,
                                       "id": f"/subscriptions/{self.subscription_id}"},
            "resourcegroup": lambda a: {"name": self.resource_group, "id": f"/subscriptions/{self.subscription_id}"
                                        f"/resourceGroups/{self.resource_group}"},
        }

    # functions
    def _parameters(self, a: list[Any]) -> Any:
        name = str(a[0]).lower()
        if name not in self.params:
            raise TemplateError(f"template refers to parameter {a[0]!r}, which it does not declare")
        return self.params[name]

    def _variables(self, a: list[Any]) -> Any:
        name = str(a[0]).lower()
        if name not in self._vars:
            if name not in self._raw_vars:
                raise TemplateError(f"template refers to variable {a[0]!r}, which it does not declare")
            self._vars[name] = self.render(self._raw_vars[name])
        return self._vars[name]

    @staticmethod
    def _concat(a: list[Any]) -> Any:
        if a and all(isinstance(x, list) for x in a):
            return [y for x in a for y in x]
        sec = _any_secure(a)
        return sec if sec else "".join(_s(x) for x in a)

    def _resource_id(self, a: list[Any]) -> str:
        rtype, names = _s(a[0]), [_s(x) for x in a[1:]]
        segs = rtype.split("/")
        provider, types = segs[0], segs[1:]
        path = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=False))
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{provider}/{path}")

    @staticmethod
    def _format(a: list[Any]) -> str:
        return re.sub(r"\{(\d+)(?::[^}]*)?\}", lambda m: _s(a[1 + int(m.group(1))]), _s(a[0]))

    @staticmethod
    def _replace(a: list[Any]) -> str:
        return _s(a[0]).replace(_s(a[1]), _s(a[2]))

    @staticmethod
    def _bool(a: list[Any]) -> bool:
        return a[0].lower() == "true" if isinstance(a[0], str) else bool(a[0])

    @staticmethod
    def _union(a: list[Any]) -> Any:
        if all(isinstance(x, dict) for x in a):
            out: dict[str, Any] = {}
            for x in a:
                out.update(x)
            return out
        seen: list[Any] = []
        for x in a:
            for y in x:
                if y not in seen:
                    seen.append(y)
        return seen

    # evaluation
    def eval_node(self, node: Any) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "member":
            base, key = self.eval_node(node[1]), self.eval_node(node[2])
            if isinstance(base, Secure):
                return base
            try:
                return base[key]
            except (KeyError, IndexError, TypeError):
                raise TemplateError(f"template expression: {key!r} not found") from None
        name, args = node[1].lower(), [self.eval_node(x) for x in node[2]]
        fn = self.functions.get(name)
        if fn is None:
            raise TemplateError(f"template expression uses {node[1]}(), which is not supported")
        if name not in ("parameters", "variables", "concat"):
            sec = _any_secure(args)
            if sec:
                return sec
        try:
            return fn(args)
        except TemplateError:
            raise
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise TemplateError(f"template expression {node[1]}(): {exc}") from None

    def value(self, s: str) -> Any:
        """One JSON string value: an expression ``[...]``, an escaped ``[[...``, or a literal."""
        if len(s) >= 2 and s[0] == "[" and s[-1] == "]":
            if s.startswith("[["):
                return s[1:]
            return self.eval_node(parse_expression(s[1:-1]))
        return s

    def render(self, obj: Any) -> Any:
        """A JSON value with every expression evaluated (property names are kept as written)."""
        if isinstance(obj, str):
            return self.value(obj)
        if isinstance(obj, dict):
            return {k: self.render(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.render(v) for v in obj]
        return obj


def resource_key(res: Mapping[str, Any], ev: Evaluator) -> tuple[str, str] | None:
    """(object_type, name without the factory) of a factory child resource; None for other resources."""
    kind = kind_of_arm_type(str(res.get("type", "")))
    if kind is None:
        return None
    full = ev.render(res.get("name", ""))
    if isinstance(full, Secure) or not isinstance(full, str) or "/" not in full:
        raise TemplateError(f"{res.get('type')}: resource name {res.get('name')!r} does not render "
                            "to <factory>/<name>")
    return (kind.object_type, full.split("/", 1)[1])


def render_objects(template: Mapping[str, Any], parameters: Mapping[str, Any], *,
                   subscription_id: str = "00000000-0000-0000-0000-000000000000",
                   resource_group: str = "rg") -> list[DesiredObject]:
    """The factory objects a template declares, rendered with ``parameters`` (values by name).

    Secure parameters must be passed as :class:`Secure` markers. Resources
    that are not factory children (the factory itself, nested deployments)
    are not objects.
    """
    ev = Evaluator(parameters, template.get("variables") or {}, subscription_id=subscription_id,
                   resource_group=resource_group)
    out: list[DesiredObject] = []
    for res in template.get("resources") or []:
        key = resource_key(res, ev)
        if key is None:
            continue
        kind = kind_of_arm_type(str(res.get("type", "")))
        assert kind is not None
        name = key[1]
        props = ev.render(res.get("properties") or {})
        deps = [d for d in (ev.render(x) for x in res.get("dependsOn") or []) if isinstance(d, str)]
        out.append(DesiredObject(kind.object_type, name, props, str(res.get("type")), deps))
    return out
