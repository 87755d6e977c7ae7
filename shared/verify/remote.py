"""``dataops verify --api URL``: ask a deployed app to verify, then follow its status resource.

``POST {api}/environments/{env}/verify`` answers 202 with ``Location`` and ``Retry-After``; the client
GETs the ``Location``, waiting ``Retry-After`` seconds between looks, until it answers 200 with the
result. Every request carries the function key (``DATAOPS_FUNCTION_KEY``, as ``x-functions-key``) and,
with ``DATAOPS_API_SCOPE`` set (the App Service Authentication app's scope, e.g.
``api://<client id>/.default``), a bearer token of the signed-in identity (azure-identity's
``DefaultAzureCredential``: ``az login`` or a pipeline's identity).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import errors
from ..errors import DataOpsError, Unavailable

FUNCTION_KEY_SETTING = "DATAOPS_FUNCTION_KEY"
API_SCOPE_SETTING = "DATAOPS_API_SCOPE"
TIMEOUT = (5.0, 60.0)  # connect, read: a status look answers at once
MAX_WAIT = 3600.0  # seconds the client follows a verification before it gives up (it goes on running)
_BY_STATUS: dict[int, type[DataOpsError]] = {
    400: errors.InvalidInput, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
    409: errors.Conflict, 413: errors.TooLarge}


def headers_from(environ: Mapping[str, str], credential: Any = None) -> dict[str, str]:
    """The function key and, when a scope is configured, the bearer token for App Service Authentication."""
    out: dict[str, str] = {"Accept": "application/json"}
    if environ.get(FUNCTION_KEY_SETTING):
        out["x-functions-key"] = environ[FUNCTION_KEY_SETTING]
    scope = (environ.get(API_SCOPE_SETTING) or "").strip()
    if scope:
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        out["Authorization"] = f"Bearer {credential.get_token(scope).token}"
    return out


class RemoteVerify:
    def __init__(self, api: str, headers: Mapping[str, str], *, session: Any = None,
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 max_wait: float = MAX_WAIT) -> None:
        import requests

        self.api = api.rstrip("/")
        self.headers = dict(headers)
        self.session = session or requests.Session()
        self.sleep, self.monotonic, self.max_wait = sleep, monotonic, max_wait

    def run(self, environment: str, component: str | None = None,
            on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Request the verification and follow it to its result (the status resource's 200 body)."""
        from urllib.parse import quote

        url = f"{self.api}/environments/{quote(environment, safe='')}/verify"
        resp = self._call("POST", url, params={"component": component} if component else None)
        if resp.status_code != 202:
            raise Unavailable(f"the app answered {resp.status_code} to POST {urlsplit(url).path} (expected 202)")
        deadline = self.monotonic() + self.max_wait
        location = resp.headers.get("Location") or resp.json().get("location")
        if not location:
            raise Unavailable("the app accepted the verification but gave no Location to follow")
        while True:
            if on_status is not None:
                on_status(resp.json())
            if self.monotonic() > deadline:
                raise Unavailable(f"the verification is still {resp.json().get('status')} after "
                                  f"{self.max_wait:.0f} s; it goes on running, its status: {location}",
                                  code="still_running")
            self.sleep(_retry_after(resp))
            resp = self._call("GET", location)
            if resp.status_code == 200:
                body: dict[str, Any] = resp.json()
                return body
            if resp.status_code != 202:
                raise Unavailable(f"the app answered {resp.status_code} to GET {urlsplit(location).path}")
            location = resp.headers.get("Location") or location

    def _call(self, method: str, url: str, params: dict[str, str] | None = None) -> Any:
        import requests

        host = urlsplit(url).netloc
        try:
            resp = self.session.request(method, url, params=params, headers=self.headers, timeout=TIMEOUT,
                                        allow_redirects=False)
        except requests.RequestException as exc:
            raise Unavailable(f"the app at {host} is unreachable: {type(exc).__name__}",
                              code="service_unreachable") from None
        kind = _BY_STATUS.get(resp.status_code)
        if kind is not None:
            try:
                body = resp.json()
            except ValueError:
                body = {}
            message = body.get("message") if isinstance(body, dict) else None
            code = body.get("error") if isinstance(body, dict) else None
            raise kind(message or f"{resp.status_code} from {host}", code=code or kind.code)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise Unavailable(f"the app at {host} answered {resp.status_code}", retry_after=_retry_after(resp))
        return resp


def _retry_after(resp: Any) -> float:
    try:
        return max(1.0, min(60.0, float(resp.headers.get("Retry-After") or 5)))
    except ValueError:
        return 5.0
