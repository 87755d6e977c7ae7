"""Every resource of a publish output must belong to the target factory.

A template deployed to an environment may only change that environment's
factory. Each resource is checked after its name is evaluated (``concat``
and parameters included), before anything changes:

* its type is ``Microsoft.DataFactory/factories/...`` (a child type) and its
  name is ``<target factory>/<child>`` with one segment per type segment;
* the factory resource itself only when its name is the target factory;
* no ``resourceGroup``, ``subscriptionId`` or ``scope`` redirecting it
  elsewhere, no copy loop multiplying it;
* anything else — role assignments, storage accounts, other providers,
  nested deployments (ADF's linked templates are read by the loader, never
  deployed as nested templates) — is refused, naming the resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BadRequest
from .template import Evaluator, Secure

FACTORY_TYPE = "microsoft.datafactory/factories"
REDIRECTING_KEYS = ("resourceGroup", "subscriptionId", "scope", "copy")


class ForeignResourceError(BadRequest):
    code = "foreign_resource"


def _problem(res: Mapping[str, Any], ev: Evaluator, factory: str) -> str | None:
    rtype = res.get("type")
    if not isinstance(rtype, str) or rtype.startswith("["):
        return f"type {rtype!r} is not a literal resource type"
    t = rtype.lower()
    if t != FACTORY_TYPE and not t.startswith(FACTORY_TYPE + "/"):
        return f"{rtype} {res.get('name')}: not a Data Factory resource (only the target factory's objects " \
               "are deployed)"
    name = ev.render(res.get("name", ""))
    if isinstance(name, Secure) or not isinstance(name, str):
        return f"{rtype}: the name does not evaluate to text"
    redirect = [k for k in REDIRECTING_KEYS if k in res]
    if redirect:
        return f"{rtype} {name}: {', '.join(redirect)} would deploy it outside the target factory"
    segments = name.split("/")
    if segments[0].lower() != factory.lower():
        return f"{rtype} {name}: belongs to factory {segments[0]!r}, not the target {factory!r}"
    expected = len(t.split("/")) - 1  # "microsoft.datafactory/factories" has one name segment
    if len(segments) != expected or not all(segments):
        return f"{rtype} {name}: the name needs {expected} segment(s) under the factory"
    return None


def check_ownership(template: Mapping[str, Any], ev: Evaluator, factory: str) -> None:
    """Raise :class:`ForeignResourceError` naming every resource that is not the target factory's."""
    problems = [p for res in template.get("resources") or []
                if (p := _problem(res if isinstance(res, Mapping) else {}, ev, factory))]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ForeignResourceError(f"{len(problems)} template resource(s) do not belong to factory {factory}: "
                                   f"{shown}", details={"resources": problems[:50]})
