"""ARM template expression evaluator: the subset Data Factory publish output uses.

ADF's ``ARMTemplateForFactory.json`` (and its ``linkedTemplates/``) use ``parameters()``,
``variables()``, ``concat()`` and ``resourceId()`` (grepped from the public corpus); a few
more common functions are supported because hand-written parameter files and nested
templates use them (``format``, ``toLower``, ``toUpper``, ``replace``, ``string``, ``int``,
``bool``, ``if``, ``equals``, ``empty``, ``length``, ``coalesce``, ``union``, ``json``,
``createArray``, ``subscription()``, ``resourceGroup()``, ``deployment()``, ``uniqueString``).

Rules followed from the ARM template language:

* a JSON string is an expression when it starts with ``[`` and ends with ``]``;
  ``[[`` at the start is the escape for a literal string starting with ``[`` (one ``[`` removed);
* string literals are single-quoted, ``''`` inside is a quote;
* property access ``.name`` and index ``[expr]`` after a call;
* parameters: ``defaultValue`` may itself be an expression; a parameter without a value and
  without a default is an ``InvalidTemplate`` error (as ARM answers at validation time);
* variables are evaluated lazily (they may reference each other; cycles are an error).

Only values are evaluated, never object keys; a key's ``[[`` escape is unescaped (ADF writes
copy-activity mappings such as ``"[[Column]"``). ``uniqueString`` is ARM's own hash (a 64-bit
MurmurHash variant over the arguments joined by "-", 13 base-32 characters); ``format`` follows
.NET composite formatting (``{0,-8:D3}``, ``N2``, ``X``, ``F``, ``P``, ``E``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TemplateContext", "TemplateError", "evaluate", "evaluate_expression", "is_expression"]


class TemplateError(Exception):
    """A template that ARM would reject (``InvalidTemplate``)."""

    def __init__(self, message: str, code: str = "InvalidTemplate") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_expression(value: str) -> bool:
    """True for ``"[...]"`` strings that are expressions (not the ``[[`` escape)."""
    return len(value) >= 2 and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


# -- tokenizer / parser ------------------------------------------------------------------

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),.\[\]])
    )""", re.VERBOSE)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(src):
        if src[pos:].strip() == "":
            break
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise TemplateError(f"The template language expression '{src}' is not valid: "
                                f"unexpected character at position {pos}.")
        kind = m.lastgroup or ""
        toks.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return toks


# AST nodes are tuples: ("lit", value) | ("call", name, args, accessors)
_Node = tuple[Any, ...]


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _take(self, text: str | None = None) -> _Tok:
        tok = self._peek()
        if tok is None or (text is not None and tok.text != text):
            want = f"'{text}'" if text else "a token"
            raise TemplateError(f"The template language expression '{self.src}' is not valid: "
                                f"expected {want}.")
        self.i += 1
        return tok

    def parse(self) -> _Node:
        node = self._expr()
        if self._peek() is not None:
            raise TemplateError(f"The template language expression '{self.src}' is not valid: "
                                f"unexpected '{self._peek().text}'.")  # type: ignore[union-attr]
        return node

    def _expr(self) -> _Node:
        tok = self._take()
        if tok.kind == "str":
            return ("lit", tok.text[1:-1].replace("''", "'"))
        if tok.kind == "num":
            return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "name":
            lowered = tok.text.lower()
            if lowered in ("true", "false") and (self._peek() is None or self._peek().text != "("):  # type: ignore[union-attr]
                return ("lit", lowered == "true")
            if lowered == "null" and (self._peek() is None or self._peek().text != "("):  # type: ignore[union-attr]
                return ("lit", None)
            self._take("(")
            args: list[_Node] = []
            if self._peek() is not None and self._peek().text != ")":  # type: ignore[union-attr]
                args.append(self._expr())
                while self._peek() is not None and self._peek().text == ",":  # type: ignore[union-attr]
                    self._take(",")
                    args.append(self._expr())
            self._take(")")
            accessors: list[tuple[str, Any]] = []
            while self._peek() is not None and self._peek().text in (".", "["):  # type: ignore[union-attr]
                if self._take().text == ".":
                    accessors.append(("prop", self._take().text))
                else:
                    accessors.append(("index", self._expr()))
                    self._take("]")
            return ("call", lowered, args, accessors)
        raise TemplateError(f"The template language expression '{self.src}' is not valid: "
                            f"unexpected '{tok.text}'.")


_PARSE_CACHE: dict[str, _Node] = {}


def _parse(src: str) -> _Node:
    node = _PARSE_CACHE.get(src)
    if node is None:
        node = _Parser(src).parse()
        if len(_PARSE_CACHE) < 50_000:
            _PARSE_CACHE[src] = node
    return node


# -- evaluation context ------------------------------------------------------------------

@dataclass
class TemplateContext:
    """What expressions can see: parameter values, variable definitions, deployment scope."""

    parameters: dict[str, Any]
    variables: Mapping[str, Any] = field(default_factory=dict)
    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "rg"
    location: str = "westeurope"
    deployment_name: str = "deployment"
    _variable_values: dict[str, Any] = field(default_factory=dict)
    _evaluating: set[str] = field(default_factory=set)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], supplied: Mapping[str, Any],
                      **scope: Any) -> TemplateContext:
        """Bind ``supplied`` parameter values (``{"name": value}``) to the template's declarations.

        Unknown parameters and missing required ones are ``InvalidTemplate`` errors, like ARM.
        """
        declared = template.get("parameters") or {}
        if not isinstance(declared, Mapping):
            raise TemplateError("Template 'parameters' must be an object.")
        lookup = {k.lower(): k for k in declared}
        unknown = [k for k in supplied if k.lower() not in lookup]
        if unknown:
            raise TemplateError(f"Deployment template validation failed: 'The template parameters "
                                f"'{', '.join(sorted(unknown))}' in the parameters file are not valid; "
                                "they are not present in the original template and can therefore not "
                                "be provided at deployment time.'")
        ctx = cls(parameters={}, variables=template.get("variables") or {}, **scope)
        given = {k.lower(): v for k, v in supplied.items()}
        # supplied values are evaluated too ("[...]" is an expression, "[[" the escape for a literal),
        # in the deployment's scope: no parameters or variables to refer to
        bare = cls(parameters={}, variables={}, **scope)
        for name, spec in declared.items():
            spec = spec if isinstance(spec, Mapping) else {}
            if name.lower() in given:
                value = evaluate(given[name.lower()], bare)
            elif "defaultValue" in spec:
                value = evaluate(spec["defaultValue"], ctx)
            else:
                raise TemplateError(f"Deployment template validation failed: 'The value for the "
                                    f"template parameter '{name}' is not provided. Please see "
                                    "https://aka.ms/arm-create-parameter-file for usage details.'")
            ctx.parameters[name] = _coerce(name, str(spec.get("type", "string")), value)
            allowed = spec.get("allowedValues")
            if isinstance(allowed, list) and ctx.parameters[name] not in allowed:
                raise TemplateError(f"Deployment template validation failed: 'The provided value "
                                    f"'{ctx.parameters[name]}' for the template parameter '{name}' is "
                                    f"not valid. The parameter value is not part of the allowed value(s): "
                                    f"'{','.join(map(str, allowed))}'.'")
        return ctx

    def parameter(self, name: str) -> Any:
        for key, value in self.parameters.items():
            if key.lower() == name.lower():
                return value
        raise TemplateError(f"Unable to process template language expressions: The template "
                            f"parameter '{name}' is not found.")

    def variable(self, name: str) -> Any:
        key = next((k for k in self.variables if k.lower() == name.lower()), None)
        if key is None:
            raise TemplateError(f"Unable to process template language expressions: The template "
                                f"variable '{name}' is not found.")
        if key in self._variable_values:
            return self._variable_values[key]
        if key in self._evaluating:
            raise TemplateError(f"The template variable '{key}' has a circular reference.")
        self._evaluating.add(key)
        try:
            value = evaluate(self.variables[key], self)
        finally:
            self._evaluating.discard(key)
        self._variable_values[key] = value
        return value


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "securestring": (str,), "int": (int,), "bool": (bool,),
    "object": (dict,), "secureobject": (dict,), "array": (list,),
}


def _coerce(name: str, type_name: str, value: Any) -> Any:
    want = _TYPES.get(type_name.lower())
    if want is None:
        raise TemplateError(f"Template parameter '{name}' has an unknown type '{type_name}'.")
    if type_name.lower() == "int" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    if type_name.lower() == "bool" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if type_name.lower() == "int" and isinstance(value, bool):
        value = "bool"  # bool is an int subclass in Python; not in ARM
    if not isinstance(value, want):
        raise TemplateError(f"Deployment template validation failed: 'Template parameter "
                            f"'{name}' of type '{type_name}' got a value of type "
                            f"'{type(value).__name__}'.'")
    return value


# -- functions -----------------------------------------------------------------------------

def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def _concat(args: list[Any]) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [x for a in args for x in a]
    return "".join(_to_str(a) for a in args)


def _resource_id(ctx: TemplateContext, args: list[Any]) -> str:
    parts = [_to_str(a) for a in args]
    sub, rg = ctx.subscription_id, ctx.resource_group
    # Optional leading subscription id / resource group name: a resource type contains '/'.
    if len(parts) >= 2 and "/" not in parts[0] and "/" in parts[1]:
        rg, parts = parts[0], parts[1:]
    elif len(parts) >= 3 and "/" not in parts[0] and "/" not in parts[1] and "/" in parts[2]:
        sub, rg, parts = parts[0], parts[1], parts[2:]
    if not parts or "/" not in parts[0]:
        raise TemplateError("resourceId(): the first argument must be a resource type.")
    rtype, names = parts[0], parts[1:]
    provider, *types = rtype.split("/")
    if len(types) != len(names):
        raise TemplateError(f"resourceId(): resource type '{rtype}' needs {len(types)} name segment(s), "
                            f"got {len(names)}.")
    tail = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=True))
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{tail}"


def _hash64(data: bytes) -> int:
    """ARM's uniqueString hash (Microsoft's 64-bit MurmurHash variant), written independently of the product's."""
    mask = (1 << 32) - 1

    def rot(v: int, n: int) -> int:
        return ((v << n) | (v >> (32 - n))) & mask

    def mix(v: int) -> int:
        for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
            v = ((v ^ (v >> shift)) * mult) & mask
        return v ^ (v >> 16)

    lanes = [0, 0]
    consts = ((0x239B961B, 15, 0xAB0E9789, 19, 0x561CCD1B), (0xAB0E9789, 17, 0x239B961B, 13, 0x0BCAA747))
    full = len(data) // 8 * 8
    for off in range(0, full, 8):
        for lane in (0, 1):
            k = int.from_bytes(data[off + 4 * lane:off + 4 * lane + 4], "little")
            m1, r1, m2, r2, add = consts[lane]
            lanes[lane] ^= (rot((k * m1) & mask, r1) * m2) & mask
            lanes[lane] = ((rot(lanes[lane], r2) + lanes[1 - lane]) * 5 + add) & mask
    tail = data[full:]
    for lane in (0, 1):
        chunk = tail[4 * lane:4 * lane + 4]
        if chunk:
            m1, r1, m2, _, _ = consts[lane]
            lanes[lane] ^= (rot((int.from_bytes(chunk, "little") * m1) & mask, r1) * m2) & mask
    a = lanes[1] ^ len(data)
    b = ((lanes[0] ^ len(data)) + a) & mask
    a = (a + b) & mask
    b, a = mix(b), mix(a)
    b = (b + a) & mask
    a = (a + b) & mask
    return (a << 32) | b


def _ids(prefix: str, parts: list[str]) -> str:
    if not parts or "/" not in parts[0]:
        raise TemplateError("The resource id function needs a resource type (namespace/type).")
    provider, *types = parts[0].split("/")
    if len(types) != len(parts) - 1:
        raise TemplateError(f"Resource type '{parts[0]}' needs {len(types)} name segment(s).")
    return prefix + f"/providers/{provider}/" + "/".join(f"{t}/{n}" for t, n in zip(types, parts[1:], strict=True))


def _subscription_resource_id(ctx: TemplateContext, args: list[Any]) -> str:
    parts = [_to_str(a) for a in args]
    sub = parts.pop(0) if len(parts) > 1 and "/" not in parts[0] else ctx.subscription_id
    return _ids(f"/subscriptions/{sub}", parts)


def _unique_string(args: list[Any]) -> str:
    value = _hash64("-".join(_to_str(a) for a in args).encode("utf-8"))
    bits = f"{value:064b}" + "0"
    return "".join("abcdefghijklmnopqrstuvwxyz234567"[int(bits[i:i + 5], 2)] for i in range(0, 65, 5))


def _length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise TemplateError("length(): argument must be a string, array or object.")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and len(value) == 0)


def _format_one(value: Any, spec: str) -> str:
    if not spec or isinstance(value, str):
        return _to_str(value)
    letter, digits = spec[0].upper(), spec[1:]
    if not digits.isdigit() and digits:
        raise TemplateError(f"format(): the format specifier '{spec}' is not supported.")
    width = int(digits) if digits else None
    if letter == "D":
        return ("-" if int(value) < 0 else "") + str(abs(int(value))).zfill(width or 1)
    if letter == "X":
        text = f"{int(value):X}".zfill(width or 1)
        return text if spec[0] == "X" else text.lower()
    if letter in "NF":
        places = 2 if width is None else width
        return f"{float(value):,.{places}f}" if letter == "N" else f"{float(value):.{places}f}"
    if letter == "P":
        return f"{float(value) * 100:,.{2 if width is None else width}f} %"
    if letter == "E":
        text = f"{float(value):.{6 if width is None else width}E}"
        mantissa, exponent = text.split("E")
        out = f"{mantissa}E{exponent[0]}{exponent[1:].zfill(3)}"
        return out if spec[0] == "E" else out.replace("E", "e")
    raise TemplateError(f"format(): the format specifier '{spec}' is not supported.")


def _format(args: list[Any]) -> str:
    """.NET composite formatting: ``{index[,alignment][:spec]}``; ``{{`` and ``}}`` are braces."""
    if not args:
        raise TemplateError("format(): needs a format string.")

    def one(m: re.Match[str]) -> str:
        if m.group("brace"):
            return m.group("brace")[0]
        text = _format_one(args[1 + int(m.group("i"))], m.group("spec") or "")
        align = int(m.group("align") or 0)
        return text.rjust(align) if align >= 0 else text.ljust(-align)
    return re.sub(r"(?P<brace>\{\{|\}\})|\{(?P<i>\d+)(?:,(?P<align>-?\d+))?(?::(?P<spec>[^}]*))?\}", one,
                  _to_str(args[0]))


def _union(args: list[Any]) -> Any:
    if all(isinstance(a, dict) for a in args):
        merged: dict[str, Any] = {}
        for a in args:
            merged.update(a)
        return merged
    out: list[Any] = []
    for a in args:
        for x in a:
            if x not in out:
                out.append(x)
    return out


_Fn = Callable[[TemplateContext, list[Any]], Any]
_FUNCTIONS: dict[str, _Fn] = {
    "concat": lambda c, a: _concat(a),
    "resourceid": _resource_id,
    "subscriptionresourceid": _subscription_resource_id,
    "tenantresourceid": lambda c, a: _ids("", [_to_str(x) for x in a]),
    "extensionresourceid": lambda c, a: _ids(_to_str(a[0]), [_to_str(x) for x in a[1:]]),
    "true": lambda c, a: True,
    "false": lambda c, a: False,
    "format": lambda c, a: _format(a),
    "tolower": lambda c, a: _to_str(a[0]).lower(),
    "toupper": lambda c, a: _to_str(a[0]).upper(),
    "replace": lambda c, a: _to_str(a[0]).replace(_to_str(a[1]), _to_str(a[2])),
    "string": lambda c, a: _to_str(a[0]),
    "int": lambda c, a: int(a[0]),
    "bool": lambda c, a: a[0] if isinstance(a[0], bool) else _to_str(a[0]).lower() == "true",
    "json": lambda c, a: json.loads(_to_str(a[0])),
    "equals": lambda c, a: a[0] == a[1],
    "not": lambda c, a: not a[0],
    "and": lambda c, a: all(a),
    "or": lambda c, a: any(a),
    "empty": lambda c, a: _empty(a[0]),
    "length": lambda c, a: _length(a[0]),
    "coalesce": lambda c, a: next((x for x in a if x is not None), None),
    "union": lambda c, a: _union(a),
    "createarray": lambda c, a: list(a),
    "uniquestring": lambda c, a: _unique_string(a),
    "subscription": lambda c, a: {"id": f"/subscriptions/{c.subscription_id}",
                                  "subscriptionId": c.subscription_id},
    "resourcegroup": lambda c, a: {"id": f"/subscriptions/{c.subscription_id}/resourceGroups/"
                                         f"{c.resource_group}", "name": c.resource_group,
                                   "location": c.location},
    "deployment": lambda c, a: {"name": c.deployment_name},
}


def _call(node: _Node, ctx: TemplateContext) -> Any:
    _, name, arg_nodes, accessors = node
    if name == "if":
        # Lazy branches: ARM evaluates only the branch taken.
        if len(arg_nodes) != 3:
            raise TemplateError("if() takes exactly 3 arguments.")
        value = _eval_node(arg_nodes[1] if _eval_node(arg_nodes[0], ctx) else arg_nodes[2], ctx)
    else:
        args = [_eval_node(a, ctx) for a in arg_nodes]
        if name == "parameters":
            value = ctx.parameter(_to_str(args[0]))
        elif name == "variables":
            value = ctx.variable(_to_str(args[0]))
        else:
            fn = _FUNCTIONS.get(name)
            if fn is None:
                raise TemplateError(f"The template function '{name}' is not valid (not supported by "
                                    "the local ARM stand-in).")
            try:
                value = fn(ctx, args)
            except TemplateError:
                raise
            except (IndexError, TypeError, ValueError) as exc:
                raise TemplateError(f"The template function '{name}' failed: {exc}") from exc
    for kind, key in accessors:
        k = key if kind == "prop" else _eval_node(key, ctx)
        try:
            if isinstance(value, dict) and isinstance(k, str):
                match = next((x for x in value if x.lower() == k.lower()), None)
                if match is None:
                    raise KeyError(k)
                value = value[match]
            else:
                value = value[k]
        except (KeyError, IndexError, TypeError) as exc:
            raise TemplateError(f"The language expression property '{k}' doesn't exist.") from exc
    return value


def _eval_node(node: _Node, ctx: TemplateContext) -> Any:
    if node[0] == "lit":
        return node[1]
    return _call(node, ctx)


def evaluate_expression(text: str, ctx: TemplateContext) -> Any:
    """Evaluate one JSON string value: an expression, the ``[[`` escape, or a plain string."""
    if text.startswith("[[") and text.endswith("]"):
        return text[1:]
    if is_expression(text):
        return _eval_node(_parse(text[1:-1]), ctx)
    return text


def evaluate(value: Any, ctx: TemplateContext) -> Any:
    """Evaluate every string value in ``value`` recursively (keys are left alone)."""
    if isinstance(value, str):
        return evaluate_expression(value, ctx)
    if isinstance(value, dict):  # a name's "[[" escape is unescaped too
        return {(k[1:] if k.startswith("[[") and k.endswith("]") else k): evaluate(v, ctx)
                for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, ctx) for v in value]
    return value
