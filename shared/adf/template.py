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


def _unescape_name(key: str) -> str:
    return key[1:] if key.startswith("[[") and key.endswith("]") else key


def _member(base: Any, key: Any) -> Any:
    """``base.key`` / ``base[key]``: property names case-insensitive, as ARM."""
    if isinstance(base, Secure):
        return base
    if isinstance(base, dict) and isinstance(key, str) and key not in base:
        key = next((k for k in base if isinstance(k, str) and k.lower() == key.lower()), key)
    try:
        return base[key]
    except (KeyError, IndexError, TypeError):
        raise TemplateError(f"template expression: {key!r} not found") from None


def _provider_path(prefix: str, rtype: str, names: list[str]) -> str:
    """``{prefix}/providers/{namespace}/{type}/{name}/...`` with one name per type segment."""
    namespace, *types = rtype.split("/")
    if not types or len(types) != len(names):
        raise TemplateError(f"resource id: type {rtype!r} needs {len(types)} name(s), got {len(names)}")
    return f"{prefix}/providers/{namespace}/" + "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))


# ------------------------------------------------------------ uniqueString, format
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _fmix(h: int) -> int:
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & _M32
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _murmur64(data: bytes) -> int:
    """The 64-bit MurmurHash variant ARM's uniqueString uses (two 32-bit lanes, 8-byte blocks)."""
    c1, c2 = 0xAB0E9789, 0x239B961B
    h1 = h2 = 0
    n = len(data)
    end = n - n % 8
    for i in range(0, end, 8):
        k1 = int.from_bytes(data[i:i + 4], "little")
        k2 = int.from_bytes(data[i + 4:i + 8], "little")
        h1 = ((_rotl((h1 ^ (_rotl((k1 * c2) & _M32, 15) * c1 & _M32)), 19) + h2) * 5 + 0x561CCD1B) & _M32
        h2 = ((_rotl((h2 ^ (_rotl((k2 * c1) & _M32, 17) * c2 & _M32)), 13) + h1) * 5 + 0x0BCAA747) & _M32
    rest = data[end:]
    if rest:
        k1 = int.from_bytes(rest[:4], "little")
        h1 ^= _rotl((k1 * c2) & _M32, 15) * c1 & _M32
        if len(rest) > 4:
            k2 = int.from_bytes(rest[4:], "little")
            h2 ^= _rotl((k2 * c1) & _M32, 17) * c2 & _M32
    h2 ^= n
    h1 = ((h1 ^ n) + h2) & _M32
    h2 = (h2 + h1) & _M32
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1


def unique_string(*values: str) -> str:
    """ARM's ``uniqueString``: the values joined by "-", hashed, 13 base-32 characters (deterministic)."""
    h = _murmur64("-".join(values).encode("utf-8"))
    alphabet, out = "abcdefghijklmnopqrstuvwxyz234567", []
    for _ in range(13):  # the top 5 bits, 13 times (the last one padded with zeros)
        out.append(alphabet[h >> 59])
        h = (h << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(out)


_FORMAT_ITEM = re.compile(r"\{\{|\}\}|\{(\d+)(?:,(-?\d+))?(?::([^}]*))?\}")


def _format_value(v: Any, spec: str) -> str:
    """One .NET format specifier (D, N, F, X, x, E, P; an empty spec is the value as text)."""
    m = re.fullmatch(r"([DdNnFfXxEePp])(\d*)", spec)
    if not spec or isinstance(v, str) or m is None:
        if spec and not isinstance(v, str):
            raise TemplateError(f"format(): unsupported format specifier {spec!r}")
        return _s(v)
    kind, digits = m.group(1), m.group(2)
    n = int(digits) if digits else None
    if kind in "Dd":
        return f"{int(v):0{n or 1}d}" if int(v) >= 0 else "-" + f"{-int(v):0{n or 1}d}"
    if kind in "Xx":
        return format(int(v), f"0{n or 1}{kind}")
    if kind in "Nn":
        return f"{float(v):,.{2 if n is None else n}f}"
    if kind in "Ff":
        return f"{float(v):.{2 if n is None else n}f}"
    if kind in "Ee":
        mant, exp = f"{float(v):.{6 if n is None else n}e}".split("e")
        return f"{mant}{'E' if kind == 'E' else 'e'}{exp[0]}{int(exp[1:]):03d}"
    return f"{float(v) * 100:,.{2 if n is None else n}f} %"


def _format(a: list[Any]) -> str:
    """ARM's format(): .NET composite formatting, ``{index[,alignment][:spec]}``, ``{{``/``}}`` literal."""
    def item(m: re.Match[str]) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        text = _format_value(a[1 + int(m.group(1))], m.group(3) or "")
        width = int(m.group(2) or 0)
        return text.rjust(width) if width > 0 else text.ljust(-width)
    return _FORMAT_ITEM.sub(item, _s(a[0]))


class Evaluator:
    """Evaluates expressions with one environment's parameter values."""

    def __init__(self, parameters: Mapping[str, Any], variables: Mapping[str, Any] | None = None, *,
                 subscription_id: str = "00000000-0000-0000-0000-000000000000",
                 resource_group: str = "rg") -> None:
        self.params = {k.lower(): v for k, v in parameters.items()}
        self._raw_vars = {k.lower(): v for k, v in (variables or {}).items()}
        self._vars: dict[str, Any] = {}
        self.subscription_id, self.resource_group = subscription_id, resource_group
        self.names: dict[str, Any] = {}  # rendered resource names (a template's names are looked up often)
        self.functions: dict[str, Callable[[list[Any]], Any]] = {
            "parameters": self._parameters, "variables": self._variables, "concat": self._concat,
            "resourceid": self._resource_id, "subscriptionresourceid": self._subscription_resource_id,
            "tenantresourceid": lambda a: _provider_path("", _s(a[0]), [_s(x) for x in a[1:]]),
            "extensionresourceid": lambda a: _provider_path(_s(a[0]), _s(a[1]), [_s(x) for x in a[2:]]),
            "format": _format, "replace": self._replace,
            "tolower": lambda a: _s(a[0]).lower(), "toupper": lambda a: _s(a[0]).upper(),
            "string": lambda a: _s(a[0]), "int": lambda a: int(a[0]), "bool": self._bool,
            "json": lambda a: json.loads(a[0]),
            "equals": lambda a: a[0] == a[1], "not": lambda a: not a[0], "and": lambda a: all(a),
            "or": lambda a: any(a), "empty": lambda a: not a[0], "length": lambda a: len(a[0]),
            "createarray": lambda a: list(a), "createobject": lambda a: dict(zip(a[::2], a[1::2], strict=False)),
            "true": lambda a: True, "false": lambda a: False, "null": lambda a: None,
            "coalesce": lambda a: next((x for x in a if x is not None), None),
            "trim": lambda a: _s(a[0]).strip(), "split": lambda a: _s(a[0]).split(a[1]),
            "substring": lambda a: _s(a[0])[a[1]:(a[1] + a[2]) if len(a) > 2 else None],
            "union": self._union, "uniquestring": lambda a: unique_string(*map(_s, a)),
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
        """resourceId([subscriptionId], [resourceGroupName], resourceType, name1, [name2], ...)."""
        parts = [_s(x) for x in a]
        at = next((i for i, p in enumerate(parts) if "/" in p), None)
        if at is None or at > 2:
            raise TemplateError("resourceId(): needs a resource type (namespace/type)")
        sub = parts[0] if at == 2 else self.subscription_id
        rg = parts[at - 1] if at >= 1 else self.resource_group
        return _provider_path(f"/subscriptions/{sub}/resourceGroups/{rg}", parts[at], parts[at + 1:])

    def _subscription_resource_id(self, a: list[Any]) -> str:
        """subscriptionResourceId([subscriptionId], resourceType, name1, ...)."""
        parts = [_s(x) for x in a]
        at = 1 if len(parts) > 1 and "/" not in parts[0] else 0
        sub = parts[0] if at else self.subscription_id
        return _provider_path(f"/subscriptions/{sub}", parts[at], parts[at + 1:])

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
            return _member(self.eval_node(node[1]), self.eval_node(node[2]))
        name = node[1].lower()
        if name == "if":  # lazy, as ARM: only the branch taken is evaluated
            if len(node[2]) != 3:
                raise TemplateError("template expression if() takes 3 arguments")
            cond = self.eval_node(node[2][0])
            return cond if isinstance(cond, Secure) else self.eval_node(node[2][1 if cond else 2])
        args = [self.eval_node(x) for x in node[2]]
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
        """A JSON value with every expression evaluated; a property name's ``[[`` escape is unescaped
        (ADF writes copy-activity column mappings like ``"[[Column]"``)."""
        if isinstance(obj, str):
            return self.value(obj)
        if isinstance(obj, dict):
            return {_unescape_name(k): self.render(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.render(v) for v in obj]
        return obj


def resource_key(res: Mapping[str, Any], ev: Evaluator) -> tuple[str, str] | None:
    """(object_type, name without the factory) of a factory child resource; None for other resources."""
    kind = kind_of_arm_type(str(res.get("type", "")))
    if kind is None:
        return None
    raw = res.get("name", "")
    full = ev.names.get(raw) if isinstance(raw, str) else None
    if full is None:
        full = ev.render(raw)
        if isinstance(raw, str):
            ev.names[raw] = full
    if isinstance(full, Secure) or not isinstance(full, str) or "/" not in full:
        raise TemplateError(f"{res.get('type')}: resource name {res.get('name')!r} does not render "
                            "to <factory>/<name>")
    return (kind.object_type, full.split("/", 1)[1])


def render_objects(template: Mapping[str, Any], parameters: Mapping[str, Any], *,
                   subscription_id: str = "00000000-0000-0000-0000-000000000000",
                   resource_group: str = "rg", evaluator: Evaluator | None = None) -> list[DesiredObject]:
    """The factory objects a template declares, rendered with ``parameters`` (values by name).

    Secure parameters must be passed as :class:`Secure` markers. Resources
    that are not factory children (the factory itself, nested deployments)
    are not objects.
    """
    ev = evaluator or Evaluator(parameters, template.get("variables") or {}, subscription_id=subscription_id,
                                resource_group=resource_group)
    out: list[DesiredObject] = []
    for res in template.get("resources") or []:
        key = resource_key(res, ev)
        if key is None:
            continue
        kind = kind_of_arm_type(str(res.get("type", "")))
        assert kind is not None
        name = key[1]
        raw_props = res.get("properties") or {}
        # nothing to evaluate when no string starts with "[" (most pipelines): copy, don't walk
        props = json.loads(text) if '"[' not in (text := json.dumps(raw_props)) else ev.render(raw_props)
        deps = [d for d in (ev.render(x) for x in res.get("dependsOn") or []) if isinstance(d, str)]
        out.append(DesiredObject(kind.object_type, name, props, str(res.get("type")), deps))
    return out
