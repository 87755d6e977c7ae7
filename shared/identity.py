"""Who is acting: the caller's identity, established by the platform, never by the request.

* **HTTP**: App Service Authentication (Easy Auth) authenticates the caller with Entra ID and hands
  the app the ``X-MS-CLIENT-PRINCIPAL`` header (base64 JSON: ``auth_typ``, ``claims``, ``name_typ``,
  ``role_typ``); the platform strips any copy a client sends. Only that header counts: never a body
  ``actor`` and never ``X-MS-CLIENT-PRINCIPAL-NAME`` alone. Without platform authentication (App
  Service sets ``WEBSITE_AUTH_ENABLED=True`` when it is on) a route that acts for a person answers
  401 saying how to enable it. The dev host injects a configured local principal the same way.
* **CLI**: the signed-in Azure identity (the ``upn``/``oid`` claims of a token from azure-identity);
  ``--actor`` only where ``security.local_identities: true``; else ``cli:<os user>``, unverified
  (enough to plan and deploy, not to approve, reject or roll back).
* **People**: the ``people:`` mapping (and e-mail matching) ties git identities to Entra identities,
  so the pusher and every author and co-author of a deployment's commits are recognised when they
  try to approve it.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import PlatformConfig
from .errors import Forbidden, Unauthorized
from .settings import Settings

PRINCIPAL_HEADER = "x-ms-client-principal"
AUTH_ENABLED_SETTING = "WEBSITE_AUTH_ENABLED"
MAX_PRINCIPAL_HEADER = 16 * 1024
SYSTEM_PREFIX = "dataops:"  # actors that are the app itself (dataops:auto-rollback)

# Claim types as Entra ID (v1 and v2 tokens) and Easy Auth name them.
UPN_CLAIMS = ("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn", "preferred_username",
              "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "email", "unique_name")
OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
GROUP_CLAIMS = ("groups",)

ENABLE_HOWTO = ("this route acts for a person and needs App Service Authentication (Entra ID): deploy "
                "infra/main.json (it configures authsettingsV2) or turn on Authentication for the function "
                "app in the portal; the platform then sets WEBSITE_AUTH_ENABLED=True and passes the signed-in "
                "caller as X-MS-CLIENT-PRINCIPAL. Locally, run the dev host with DATAOPS_LOCAL_PRINCIPAL set "
                "and security.local_identities: true")


@dataclass(frozen=True)
class Principal:
    """An acting person (or the app itself), with how their identity was established."""

    name: str  # UPN / e-mail when known, else the object id, else the local name
    verified: bool
    source: str  # app_service | azure | local | cli_unverified | system
    oid: str | None = None
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other names the claims give (e-mail, preferred_username)

    @property
    def ids(self) -> frozenset[str]:
        """Every identifier of this principal, case-folded (for self-approval checks)."""
        return frozenset(i.strip().casefold() for i in (self.name, self.oid, *self.aliases) if i and i.strip())

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "verified": self.verified, "source": self.source}
        if self.oid:
            d["oid"] = self.oid
        return d

    def has_any(self, wanted: Iterable[str]) -> bool:
        have = {x.casefold() for x in (*self.roles, *self.groups)}
        return any(w.casefold() in have for w in wanted)


def _claims(pairs: Iterable[tuple[Any, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for typ, val in pairs:
        if isinstance(typ, str) and isinstance(val, str) and val:
            out.setdefault(typ, []).append(val[:400])
    return out


def _first(claims: Mapping[str, list[str]], names: Iterable[str]) -> str | None:
    for n in names:
        if claims.get(n):
            return claims[n][0]
    return None


def principal_from_claims(claims: Mapping[str, list[str]], *, source: str, name_claim: str | None = None,
                          role_claim: str | None = None) -> Principal | None:
    """A verified principal from the claims of Easy Auth or of an Entra token (None: no identity)."""
    upn = _first(claims, UPN_CLAIMS)
    named = claims.get(name_claim or "", [None])[0] if name_claim else None
    oid = _first(claims, OID_CLAIMS)
    name = upn or named or oid or _first(claims, ("appid", "azp"))
    if not name:
        return None
    roles = tuple(claims.get(role_claim or "", [])) + tuple(r for c in ROLE_CLAIMS for r in claims.get(c, []))
    groups = tuple(g for c in GROUP_CLAIMS for g in claims.get(c, []))
    aliases = tuple(dict.fromkeys(v for c in (*UPN_CLAIMS, name_claim or "") for v in claims.get(c, [])))
    return Principal(name=name, verified=True, source=source, oid=oid, roles=tuple(dict.fromkeys(roles)),
                     groups=groups, aliases=aliases)


def platform_auth_enabled(settings: Settings) -> bool:
    return (settings.get(AUTH_ENABLED_SETTING) or "").strip().casefold() == "true"


def http_principal(headers: Mapping[str, str], settings: Settings) -> Principal:
    """The caller of an HTTP route that acts for a person, from App Service Authentication only.

    401 ``authentication_not_enabled`` (with how to enable it) when the platform does not
    authenticate; 401 ``identity_required`` when the caller is anonymous or the header is unreadable.
    """
    if not platform_auth_enabled(settings):
        raise Unauthorized(ENABLE_HOWTO, code="authentication_not_enabled")
    raw = next((v for k, v in headers.items() if k.lower() == PRINCIPAL_HEADER), "")
    if not raw:
        raise Unauthorized("sign in: this route needs an authenticated caller (App Service Authentication "
                           "passed no X-MS-CLIENT-PRINCIPAL)", code="identity_required")
    if len(raw) > MAX_PRINCIPAL_HEADER:
        raise Unauthorized("X-MS-CLIENT-PRINCIPAL is too large", code="identity_required")
    try:
        data = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4), validate=False))
        if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
            raise ValueError
        pairs = [(c.get("typ"), c.get("val")) for c in data["claims"] if isinstance(c, dict)]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Unauthorized("X-MS-CLIENT-PRINCIPAL is not a client principal (base64 JSON with claims)",
                           code="identity_required") from None
    name_typ = data.get("name_typ") if isinstance(data.get("name_typ"), str) else None
    role_typ = data.get("role_typ") if isinstance(data.get("role_typ"), str) else None
    principal = principal_from_claims(_claims(pairs), source="app_service", name_claim=name_typ,
                                      role_claim=role_typ)
    if principal is None:
        raise Unauthorized("the client principal names nobody (no upn, name or oid claim)",
                           code="identity_required")
    return principal


def client_principal_header(name: str, *, oid: str | None = None, roles: Iterable[str] = (),
                            idp: str = "aad") -> str:
    """An ``X-MS-CLIENT-PRINCIPAL`` value as App Service builds it (the dev host injects one)."""
    claims = [{"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "val": name},
              {"typ": "name", "val": name}, {"typ": "preferred_username", "val": name}]
    if oid:
        claims.append({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid})
    claims += [{"typ": "roles", "val": r} for r in roles]
    body = {"auth_typ": idp, "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(body).encode()).decode()


# ----------------------------------------------------------------------------- CLI
def _jwt_claims(token: str) -> dict[str, list[str]]:
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    if not isinstance(data, dict):
        return {}
    pairs: list[tuple[str, Any]] = []
    for k, v in data.items():
        for item in v if isinstance(v, list) else [v]:
            pairs.append((k, item))
    return _claims(pairs)


def azure_principal(credential: Any = None) -> Principal | None:
    """The signed-in Azure identity (az login, or the EnvironmentCredential service principal)."""
    quiet = logging.getLogger("azure.identity")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "not signed in" is an answer here, not a warning for the user
    try:
        if credential is None:
            from azure.identity import AzureCliCredential, ChainedTokenCredential, EnvironmentCredential

            credential = ChainedTokenCredential(EnvironmentCredential(), AzureCliCredential(process_timeout=20))
        token = credential.get_token("https://management.azure.com/.default").token
    except Exception:  # not signed in, no az: the caller decides whether an identity is needed
        return None
    finally:
        quiet.setLevel(level)
    return principal_from_claims(_jwt_claims(token), source="azure")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers)
        return "unknown"


def cli_principal(config: PlatformConfig, actor: str | None = None, *, credential: Any = None) -> Principal:
    """The CLI's identity: ``--actor`` (local identities only), else Azure's, else ``cli:<os user>``."""
    if actor is not None and actor.strip():
        if not config.security.local_identities:
            raise Unauthorized("--actor names a person only where security.local_identities: true (local "
                               "runs); sign in with 'az login' instead", code="local_identities_disabled")
        return Principal(name=actor.strip()[:200], verified=True, source="local")
    found = azure_principal(credential)
    if found is not None:
        return found
    return Principal(name=f"cli:{os_user()}", verified=False, source="cli_unverified")


def as_principal(actor: Principal | str | None) -> Principal | None:
    """A principal as given, or an in-process caller's name (taken as verified), or None."""
    if isinstance(actor, Principal):
        return actor
    if isinstance(actor, str) and actor.strip():
        return Principal(name=actor.strip()[:200], verified=True, source="caller")
    return None


def require_verified(principal: Principal, what: str) -> Principal:
    if not principal.verified:
        raise Unauthorized(f"{what} needs a verified identity: sign in with 'az login' (or, for local runs, "
                           "--actor with security.local_identities: true)", code="identity_required")
    return principal


# -------------------------------------------------------------------------- people
_NOREPLY = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$", re.IGNORECASE)


@dataclass
class People:
    """Git identities -> Entra identities, from the ``people:`` mapping (and e-mail matching)."""

    by_git: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, config: PlatformConfig) -> People:
        table: dict[str, str] = {}
        for p in config.people:
            entra = p.entra.casefold()
            table[entra] = entra
            for g in p.git:
                if g.strip():
                    table[g.strip().casefold()] = entra
        return cls(table)

    def resolve(self, git_identity: str) -> str | None:
        """The Entra identity of a git identity (None: unknown)."""
        g = git_identity.strip().casefold()
        if g.startswith("cli:"):
            g = g[4:]
        if g in self.by_git:
            return self.by_git[g]
        m = _NOREPLY.match(g)
        if m:  # GitHub's private e-mail stands for a login, which must be mapped
            return self.by_git.get(m.group(1))
        if "@" in g and "." in g.rpartition("@")[2]:
            return g  # an e-mail: Entra UPNs and work e-mails are matched as they are
        return None


def people_of(actor: str | None, commits: Iterable[Any]) -> list[str]:
    """The git identities behind a deployment: its pusher and every author and co-author."""
    out = [actor] if actor else []
    for c in commits:
        out.extend(c.people())
    return list(dict.fromkeys(out))


def self_approval_check(config: PlatformConfig, approver: Principal, people_of_change: Iterable[str],
                        *, environment: str) -> None:
    """403 when the approver is one of the people who made the change (or cannot be told apart)."""
    env = config.environment(environment)
    if env.allow_self_approval:
        return
    table = People.of(config)
    mine = approver.ids
    unknown: list[str] = []
    for who in dict.fromkeys(p for p in people_of_change if p and p.strip()):
        if who.startswith(SYSTEM_PREFIX):
            continue  # the app itself (automatic rollback): nobody's own change
        if who.strip().casefold() in mine:
            raise Forbidden(f"{approver.name} made this change ({who}) and cannot approve it "
                            f"(environment {environment} does not allow self-approval)", code="self_approval")
        entra = table.resolve(who)
        if entra is None:
            unknown.append(who)
        elif entra in mine:
            raise Forbidden(f"{approver.name} made this change (as {who}) and cannot approve it "
                            f"(environment {environment} does not allow self-approval)", code="self_approval")
    if unknown:
        raise Forbidden(f"cannot tell whether {approver.name} made this change: no people: entry maps "
                        f"{', '.join(sorted(unknown)[:10])} to an Entra identity (add them to people: in the "
                        f"configuration, or set allow_self_approval on {environment})", code="unknown_identity")
