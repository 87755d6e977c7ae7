"""HTTP plumbing shared by the handlers: JSON answers and error mapping.

A caller's mistake is a 4xx ``{"error": code, "message": text}``; anything
unexpected is logged and answered 500 without a stack trace.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import azure.functions as func

from shared import errors
from shared.errors import DataOpsError, unreachable
from shared.jsonout import dumps
from shared.validation import json_object

if TYPE_CHECKING:
    from shared.identity import Principal

log = logging.getLogger("dataops.http")

# The one place an error kind becomes an HTTP status (the most specific kind in the class's MRO wins).
STATUS_BY_KIND: dict[type[DataOpsError], int] = {
    errors.InvalidInput: 400,
    errors.TooLarge: 413,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TargetFailed: 502,
    errors.Unavailable: 503,
    errors.Throttled: 429,
}
DEFAULT_STATUS = 400  # a DataOpsError of no listed kind is still the caller's concern, not a 500


def http_status(err: DataOpsError) -> int:
    return next((STATUS_BY_KIND[c] for c in type(err).__mro__ if c in STATUS_BY_KIND), DEFAULT_STATUS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(dumps(body), status_code=status, mimetype="application/json", headers=headers)


def error_response(err: DataOpsError) -> func.HttpResponse:
    headers = None
    if err.retryable and err.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(err.retry_after)))}
    return json_response(err.to_json(), http_status(err), headers)


Handler = Callable[[func.HttpRequest], func.HttpResponse]
RAW = "raw"  # ``body=RAW``: the body is a provider's payload (webhooks), checked by the route itself
IGNORED_FIELDS = frozenset({"actor"})  # accepted and ignored: the caller is App Service Authentication's
ALWAYS_QUERY = frozenset({"code"})  # the function key of a FUNCTION-level route


@dataclass(frozen=True)
class RequestShape:
    """The query parameters and JSON body fields a route accepts; anything else is a 400 naming it."""

    query: frozenset[str] = frozenset()
    body: frozenset[str] | str = frozenset()

    def check(self, req: func.HttpRequest) -> None:
        unknown = sorted(set(req.params) - self.query - ALWAYS_QUERY)
        if unknown:
            known = ", ".join(sorted(self.query)) or "none"
            raise errors.InvalidInput(f"unknown query parameter(s): {', '.join(unknown)} (known: {known})",
                                      code="unknown_parameter")
        if self.body == RAW or req.method.upper() in ("GET", "HEAD"):
            return
        fields = sorted(set(json_object(req.get_body() or b"", required=False)) - set(self.body) - IGNORED_FIELDS)
        if fields:
            known = ", ".join(sorted(self.body)) or "none"
            raise errors.InvalidInput(f"unknown body field(s): {', '.join(fields)} (known: {known})",
                                      code="unknown_field")


def handle(fn: Handler | None = None, *, query: Iterable[str] = (),
           body: Iterable[str] | str = ()) -> Any:
    """Check the request's shape, turn DataOpsError into its status by kind and anything else into a
    logged, traceless 500.

    ``@handle`` accepts no query parameter (but the function key ``code``) and no body field;
    ``@handle(query={...}, body={...})`` names what the route accepts (``body=RAW``: not checked here).
    Unknown names are a 400 before the route runs, so a typo (``?dryrun=true``) never acts.
    """
    shape = RequestShape(frozenset(query), body if body == RAW else frozenset(body))
    if fn is None:
        return functools.partial(_wrap, shape=shape)
    return _wrap(fn, shape)


def _wrap(fn: Handler, shape: RequestShape) -> Handler:
    @functools.wraps(fn)
    def wrapper(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
        from shared import telemetry

        with telemetry.http_request(req.method, route_of(req), context) as answered:
            resp = _answer(req)
            answered(resp.status_code)
            return resp

    def _answer(req: func.HttpRequest) -> func.HttpResponse:
        try:
            shape.check(req)
            return fn(req)
        except DataOpsError as err:
            # "storage is unreachable" raised from a missing table is the missing table (one line, the fix)
            cause = err.__cause__ if isinstance(err, errors.Unavailable) else None
            return error_response((_not_provisioned(cause) if cause is not None else None) or err)
        except Exception as exc:
            down = _not_provisioned(exc) or unreachable(exc)
            if down is not None:
                log.warning("%s: %s", fn.__name__, down.message)
                return error_response(down)
            log.exception("unhandled error in %s", fn.__name__)
            return json_response({"error": "internal", "message": "internal error; it has been logged"}, 500)

    # The worker passes the invocation context (its trace context) to a parameter named ``context``.
    params = list(inspect.signature(fn).parameters.values())
    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*params, inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)])
    wrapper.request_shape = shape  # type: ignore[attr-defined]
    return wrapper


def _not_provisioned(exc: BaseException) -> DataOpsError | None:
    """A missing table/queue/container of the app as one 503 ``storage_not_initialized`` line (as the CLI
    says it), with the names of this app's storage (its prefix)."""
    from shared import app
    from shared.storage import not_provisioned

    ctx = app.peek()
    try:
        names = ctx.storage.names if ctx is not None else app.Settings.from_env().names
    except Exception:
        names = None
    return not_provisioned(exc, names)


def route_of(req: func.HttpRequest) -> str:
    """The route template of a request (``deployments/{id}``): low-cardinality, for spans and metrics."""
    path = req.url.split("?", 1)[0].split("://", 1)[-1].partition("/")[2]
    path = path.partition("/")[2] if path.startswith("api/") else path
    segments = path.strip("/").split("/")
    names = {v: k for k, v in (req.route_params or {}).items()}
    return "/".join(f"{{{names[s]}}}" if s in names else s for s in segments)


def json_body(req: func.HttpRequest, *, required: bool = True) -> dict[str, Any]:
    return json_object(req.get_body() or b"", required=required)


def caller(req: func.HttpRequest) -> Principal:
    """The person calling a route that acts for one: App Service Authentication's
    ``X-MS-CLIENT-PRINCIPAL`` only (never a body ``actor``); 401 with how to enable it otherwise."""
    from shared import app
    from shared.identity import http_principal

    return http_principal(dict(req.headers.items()), app.current().settings)
