"""App Service Authentication (Easy Auth) as the dev host's front end does it.

On App Service the authentication module sits in front of the app: it removes every
``X-MS-CLIENT-PRINCIPAL*`` header a client sends (a caller cannot claim to be someone), and for a
signed-in caller adds ``X-MS-CLIENT-PRINCIPAL`` (base64 JSON claims), ``-NAME``, ``-ID`` and
``-IDP``; the platform sets ``WEBSITE_AUTH_ENABLED=True`` in the app's environment when
Authentication is on.

The dev host does the same with one configured local user (``DATAOPS_LOCAL_PRINCIPAL``, a UPN,
optionally ``DATAOPS_LOCAL_PRINCIPAL_OID``), and only when the platform configuration allows local
identities (``security.local_identities: true``), so the app runs its real identity code path.
Without a local principal the dev host is an app without Authentication: incoming principal headers
are still stripped and the routes that act for a person answer 401.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("devhost")

PRINCIPAL_PREFIX = "x-ms-client-principal"


@dataclass(frozen=True)
class LocalPrincipal:
    name: str
    oid: str

    def headers(self) -> dict[str, str]:
        from shared.identity import client_principal_header

        return {"X-MS-CLIENT-PRINCIPAL": client_principal_header(self.name, oid=self.oid),
                "X-MS-CLIENT-PRINCIPAL-NAME": self.name, "X-MS-CLIENT-PRINCIPAL-ID": self.oid,
                "X-MS-CLIENT-PRINCIPAL-IDP": "aad"}


def front_end(headers: Mapping[str, str], principal: LocalPrincipal | None) -> dict[str, str]:
    """The request headers as the app sees them behind Easy Auth."""
    out = {k: v for k, v in headers.items() if not k.lower().startswith(PRINCIPAL_PREFIX)}
    if principal is not None:
        out.update(principal.headers())
    return out


def local_principal_from_env(environ: Mapping[str, str] | None = None) -> LocalPrincipal | None:
    """The configured local user, if any and if the configuration allows local identities.

    Turning it on sets ``WEBSITE_AUTH_ENABLED=True`` in this process, as App Service does.
    """
    env = os.environ if environ is None else environ
    name = (env.get("DATAOPS_LOCAL_PRINCIPAL") or "").strip()
    if not name:
        return None
    from shared.config import load_config
    from shared.errors import ConfigError

    try:
        allowed = load_config(env.get("DATAOPS_CONFIG") or None).security.local_identities
    except ConfigError as err:
        log.warning("DATAOPS_LOCAL_PRINCIPAL ignored: the configuration cannot be read (%s)", err.message)
        return None
    if not allowed:
        log.warning("DATAOPS_LOCAL_PRINCIPAL ignored: the configuration does not set "
                    "security.local_identities: true")
        return None
    oid = (env.get("DATAOPS_LOCAL_PRINCIPAL_OID") or "").strip() or str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    if environ is None:
        os.environ["WEBSITE_AUTH_ENABLED"] = "True"
    return LocalPrincipal(name, oid)
