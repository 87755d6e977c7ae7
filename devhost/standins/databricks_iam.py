"""Workspace users (SCIM 2.0) and object permissions for the Databricks stand-in.

Shapes as the real workspace answers them and ``databricks-sdk`` reads them:

* ``GET /api/2.0/preview/scim/v2/Users`` (``filter``, ``startIndex`` from 1, ``count``): a SCIM
  ``ListResponse``; ``filter`` supports ``<attr> eq|co|sw|ne "<value>"`` joined by ``and``/``or`` on
  ``userName``, ``displayName``, ``emails``/``emails.value``, ``id``, values compared ignoring case
  (SCIM ``caseExact: false``); any other filter is a 400 ``invalidFilter``.
* ``GET|PUT|PATCH /api/2.0/permissions/{directories|notebooks}/{object_id}``: the object's access
  control list, direct entries plus those inherited from its parent folders (``inherited: true``,
  ``inherited_from_object``) and ``admins`` CAN_MANAGE on everything. PUT replaces the direct
  entries, PATCH adds or raises them. An entry names exactly one principal; a user or group that
  does not exist is ``400 Principal: UserName(x) does not exist``; levels are CAN_READ, CAN_RUN,
  CAN_EDIT, CAN_MANAGE; ``admins`` cannot lose CAN_MANAGE; the permissions of the root, ``/Users``
  and ``/Shared`` cannot be modified (the real workspace answers 500 for ``/Shared``).

Adding a user creates their home folder ``/Users/<userName>`` with CAN_MANAGE for them; ``/Shared``
grants the ``users`` group CAN_MANAGE (every workspace user), as a new workspace does.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .databricks_workspace import WorkspaceTree
from .httpbase import HttpError, Request, Response, json_response

LEVELS = {"CAN_READ": 1, "CAN_RUN": 2, "CAN_EDIT": 3, "CAN_MANAGE": 4}
OBJECT_TYPES = {"directories": ("DIRECTORY", "directory", "Directory"),
                "notebooks": ("NOTEBOOK", "notebook", "Notebook")}
PRINCIPALS = ("user_name", "group_name", "service_principal_name")
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
_TERM = re.compile(r'^\s*(?P<attr>[A-Za-z.]+)\s+(?P<op>eq|ne|co|sw)\s+"(?P<value>(?:[^"\\]|\\.)*)"\s*$', re.I)
_ATTRS = {"username": "userName", "displayname": "displayName", "emails": "emails", "emails.value": "emails",
          "id": "id"}


def scim_error(status: int, detail: str, scim_type: str | None = None) -> HttpError:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "detail": detail, "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    return HttpError(status, scim_type or "SCIM_ERROR", detail, body=body)


def _invalid(message: str) -> HttpError:
    return HttpError(400, "INVALID_PARAMETER_VALUE", message)


@dataclass
class User:
    id: str
    user_name: str
    display_name: str
    emails: list[str]
    active: bool = True

    def resource(self) -> dict[str, Any]:
        return {"schemas": [USER_SCHEMA], "id": self.id, "userName": self.user_name,
                "displayName": self.display_name, "active": self.active,
                "emails": [{"value": e, "type": "work", "primary": i == 0} for i, e in enumerate(self.emails)],
                "groups": [{"display": "users", "type": "direct", "value": "1"}]}

    def values(self, attr: str) -> list[str]:
        return {"userName": [self.user_name], "displayName": [self.display_name], "emails": self.emails,
                "id": [self.id]}[attr]


def _match_term(user: User, term: str) -> bool:
    m = _TERM.match(term)
    if not m or m.group("attr").lower() not in _ATTRS:
        raise scim_error(400, f"Invalid filter: {term.strip()[:100]!r}", "invalidFilter")
    values = [v.lower() for v in user.values(_ATTRS[m.group("attr").lower()])]
    want, op = m.group("value").replace('\\"', '"').lower(), m.group("op").lower()
    hit = any(v == want if op in ("eq", "ne") else want in v if op == "co" else v.startswith(want)
              for v in values)
    return not hit if op == "ne" else hit


def matches(user: User, expression: str) -> bool:
    """A simple SCIM filter: terms joined by ``or`` of terms joined by ``and`` (no parentheses)."""
    if "(" in expression or "[" in expression:
        raise scim_error(400, "Invalid filter: grouping is not supported", "invalidFilter")
    ors = re.split(r"\s+or\s+", expression, flags=re.I)
    return any(all(_match_term(user, t) for t in re.split(r"\s+and\s+", part, flags=re.I)) for part in ors)


@dataclass
class IamState:
    """Users, groups and the direct access control lists by object id."""

    tree: WorkspaceTree
    users: dict[str, User] = field(default_factory=dict)  # by id
    groups: set[str] = field(default_factory=lambda: {"admins", "users"})
    acl: dict[int, dict[tuple[str, str], str]] = field(default_factory=dict)  # object id -> principal -> level
    _ids: Any = field(default_factory=lambda: itertools.count(7_000_000_000_000_000))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        shared = self.tree.get("/Shared")
        self.acl[shared.object_id] = {("group_name", "users"): "CAN_MANAGE"}

    # -- seeding ---------------------------------------------------------------------------------
    def add_user(self, user_name: str, display_name: str | None = None, emails: list[str] | None = None) -> User:
        with self._lock:
            user = User(str(next(self._ids)), user_name, display_name or user_name.split("@")[0],
                        emails or [user_name])
            self.users[user.id] = user
            home = f"/Users/{user_name}"
            self.tree.mkdirs(home)
            self.acl[self.tree.get(home).object_id] = {("user_name", user_name): "CAN_MANAGE"}
            return user

    def add_group(self, name: str) -> None:
        with self._lock:
            self.groups.add(name)

    def user_named(self, user_name: str) -> User | None:
        return next((u for u in self.users.values() if u.user_name.lower() == user_name.lower()), None)

    # -- SCIM --------------------------------------------------------------------------------------
    def list_users(self, req: Request) -> Response:
        expression = req.arg("filter")
        try:
            start = int(req.arg("startIndex") or 1)
            count = int(req.arg("count") or 10000)
        except ValueError:
            raise scim_error(400, "startIndex and count must be integers", "invalidValue") from None
        if expression:
            matches(User("", "", "", []), expression)  # an invalid filter is refused even with no users
        with self._lock:
            found = [u for u in sorted(self.users.values(), key=lambda u: u.id)
                     if not expression or matches(u, expression)]
        start = max(start, 1)
        page = found[start - 1:start - 1 + max(count, 0)]
        body: dict[str, Any] = {"schemas": [LIST_SCHEMA], "totalResults": len(found), "startIndex": start,
                                "itemsPerPage": len(page)}
        if page:
            body["Resources"] = [u.resource() for u in page]
        return json_response(body)

    def get_user(self, req: Request) -> Response:
        user = self.users.get(req.match["id"])
        if user is None:
            raise scim_error(404, f"User {req.match['id']} not found.")
        return json_response(user.resource())

    # -- permissions -------------------------------------------------------------------------------
    def _object(self, req: Request) -> Any:
        kind = req.match["type"]
        if kind not in OBJECT_TYPES:
            raise HttpError(400, "INVALID_PARAMETER_VALUE", f"Object type {kind} is not supported by the stand-in")
        raw = req.match["id"]
        obj = self.tree.by_id(int(raw)) if raw.isdigit() else None
        if obj is None or obj.object_type != OBJECT_TYPES[kind][0]:
            raise HttpError(404, "RESOURCE_DOES_NOT_EXIST", f"{OBJECT_TYPES[kind][2]} {raw} does not exist.")
        return obj

    def _entries(self, obj: Any) -> list[dict[str, Any]]:
        """The effective list: direct, inherited from parent folders, admins everywhere."""
        merged: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for p, level in self.acl.get(obj.object_id, {}).items():
            merged.setdefault(p, []).append({"permission_level": level, "inherited": False})
        for parent in self.tree.ancestors(obj.path):
            for p, level in self.acl.get(parent.object_id, {}).items():
                merged.setdefault(p, []).append({"permission_level": level, "inherited": True,
                                                 "inherited_from_object": [f"/directories/{parent.object_id}"]})
        merged.setdefault(("group_name", "admins"), []).append(
            {"permission_level": "CAN_MANAGE", "inherited": True, "inherited_from_object": ["/directories/"]})
        out = []
        for (kind, name), perms in merged.items():
            entry: dict[str, Any] = {kind: name, "all_permissions": perms}
            if kind == "user_name":
                user = self.user_named(name)
                entry["display_name"] = user.display_name if user else name
            out.append(entry)
        return out

    def _answer(self, req: Request, obj: Any) -> Response:
        kind = OBJECT_TYPES[req.match["type"]]
        return json_response({"object_id": f"/{req.match['type']}/{obj.object_id}", "object_type": kind[1],
                              "access_control_list": self._entries(obj)})

    def _requested(self, req: Request) -> dict[tuple[str, str], str]:
        body = req.json()
        acl = body.get("access_control_list") if isinstance(body, dict) else None
        if acl is None:
            acl = []
        if not isinstance(acl, list):
            raise _invalid("access_control_list must be a list")
        out: dict[tuple[str, str], str] = {}
        for entry in acl:
            if not isinstance(entry, dict):
                raise _invalid("access_control_list entries must be objects")
            named = [(k, entry[k]) for k in PRINCIPALS if entry.get(k)]
            if len(named) != 1:
                raise _invalid("Exactly one of user_name, group_name or service_principal_name must be set")
            kind, name = named[0]
            level = entry.get("permission_level")
            if level not in LEVELS:
                raise _invalid(f"Permission level {level} is not supported for {req.match['type']}")
            if kind == "user_name" and self.user_named(str(name)) is None:
                raise _invalid(f"Principal: UserName({name}) does not exist")
            if kind == "group_name" and name not in self.groups:
                raise _invalid(f"Principal: GroupName({name}) does not exist")
            if kind == "group_name" and name == "admins" and level != "CAN_MANAGE":
                raise _invalid(f"Cannot remove admins's CAN_MANAGE permission on {req.match['id']}")
            user = self.user_named(str(name)) if kind == "user_name" else None
            key = (kind, user.user_name if user else str(name))
            if LEVELS[level] > LEVELS.get(out.get(key, ""), 0):
                out[key] = level
        return out

    def _modifiable(self, obj: Any) -> None:
        if obj.path in ("/", "/Users", "/Shared", "/Repos"):
            raise HttpError(500, "INTERNAL_ERROR", f"Cannot modify permissions of directory {obj.object_id}")

    def get_permissions(self, req: Request) -> Response:
        with self._lock:
            return self._answer(req, self._object(req))

    def set_permissions(self, req: Request) -> Response:
        with self._lock:
            obj = self._object(req)
            self._modifiable(obj)
            wanted = self._requested(req)
            wanted.pop(("group_name", "admins"), None)
            self.acl[obj.object_id] = wanted
            return self._answer(req, obj)

    def update_permissions(self, req: Request) -> Response:
        with self._lock:
            obj = self._object(req)
            self._modifiable(obj)
            current = self.acl.setdefault(obj.object_id, {})
            for key, level in self._requested(req).items():
                if key != ("group_name", "admins") and LEVELS[level] >= LEVELS.get(current.get(key, ""), 0):
                    current[key] = level
            return self._answer(req, obj)

    def direct(self, path: str) -> dict[tuple[str, str], str]:
        """The direct entries of the object at ``path`` (tests)."""
        with self._lock:
            return dict(self.acl.get(self.tree.get(path).object_id, {}))
