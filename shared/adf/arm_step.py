"""The ARM part of an ADF apply: preflight every deployment, then deploy (one template, or the linked
children in dependency waves), and say per object what ARM did.

Per-object results come from the deployment operations: an object ARM
failed on is ``failed`` with ARM's code and message; one ARM deployed is
``succeeded``; one ARM never reached (a dependency failed, the deployment
was cancelled, or its linked template came after a failed one) is
``skipped``. Without readable operations every object of a failed
deployment is ``failed`` with the deployment's error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..audit.records import ObjectResult
from ..deploy.model import PlannedAction
from .client import kind_of_arm_type
from .deployments import DeploymentError
from .linked import DeploymentUnit, unit_parameters
from .parameters import rendering_values
from .template import Evaluator, Secure, resource_key
from .waves import run_wave

if TYPE_CHECKING:
    from .client import FactoryClient
    from .deployer import Prepared

Key = tuple[str, str]


@dataclass
class ArmWork:
    """Every deployment of one apply: ``(deployment name, template, parameters, unit suffix or "")``."""

    waves: list[list[tuple[str, dict[str, Any], dict[str, Any], str]]]
    unit_of: dict[Key, str] = field(default_factory=dict)  # (object_type, lower name) -> unit suffix

    @property
    def all(self) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
        return [d for w in self.waves for d in w]


def evaluator_for(prep: Prepared) -> Evaluator:
    """The environment's evaluator for the prepared template (one per preparation: it caches names)."""
    if prep.evaluator is None:
        tpl = prep.factory.template
        prep.evaluator = Evaluator(rendering_values(tpl, prep.params), tpl.get("variables") or {},
                                   subscription_id=prep.target.subscription_id,
                                   resource_group=prep.target.resource_group)
    return prep.evaluator


def key_function(ev: Evaluator) -> Callable[[Mapping[str, Any]], Key | None]:
    return lambda res: resource_key(res, ev)


def unit_name(deployment: str, suffix: str) -> str:
    return f"{deployment[:63 - len(suffix)]}-{suffix}"


def arm_work(prep: Prepared, deployment: str, waves: tuple[tuple[str, ...], ...]) -> ArmWork:
    """The deployments to make, from the prepared publish output and the schedule's waves."""
    arm_parameters = prep.params.arm_parameters()
    if not prep.factory.units:
        return ArmWork([[(deployment, prep.factory.template, arm_parameters, "")]])
    ev = evaluator_for(prep)
    real = Evaluator({**rendering_values(prep.factory.template, prep.params), **prep.params.values},
                     prep.factory.template.get("variables") or {},
                     subscription_id=prep.target.subscription_id, resource_group=prep.target.resource_group)

    def evaluate(raw: Any) -> Any:
        value = real.render(raw)
        return None if isinstance(value, Secure) else value

    units: dict[str, DeploymentUnit] = {u.suffix: u for u in prep.factory.units}
    work = ArmWork([[(unit_name(deployment, s), units[s].template,
                      unit_parameters(units[s], arm_parameters, evaluate), s) for s in w] for w in waves])
    for u in units.values():
        for res in u.resources:
            key = resource_key(res, ev)
            if key is not None:
                work.unit_of[(key[0], key[1].lower())] = u.suffix
    return work


def preflight(client: FactoryClient, work: ArmWork, parallel: int) -> None:
    """ARM validates every deployment before anything changes; the first refusal is raised."""
    def one(d: tuple[str, dict[str, Any], dict[str, Any], str]) -> None:
        client.validate_template(d[0], d[1], d[2])

    for _, exc in run_wave(work.all, one, parallel):
        if exc is not None:
            raise exc


def _arm_key(rtype: str | None, rname: str | None) -> Key | None:
    kind = kind_of_arm_type(str(rtype or ""))
    if kind is None or not rname or "/" not in rname:
        return None
    return (kind.object_type, rname.split("/", 1)[1].lower())


def object_results(objects: list[PlannedAction], exc: BaseException | None) -> list[ObjectResult]:
    """Per-object outcome of one deployment (``exc`` None: it succeeded)."""
    if exc is None:
        return [ObjectResult(a.object_type, a.name, a.action, "succeeded") for a in objects]
    ops = {k: r for r in (getattr(exc, "resources", None) or []) if (k := _arm_key(r.get("type"), r.get("name")))}
    details = getattr(exc, "details", None)
    canceled = isinstance(details, dict) and details.get("provisioning_state") == "Canceled"
    out = []
    for a in objects:
        op = ops.get((a.object_type, a.name.lower()))
        if not ops and not canceled:
            out.append(ObjectResult(a.object_type, a.name, a.action, "failed", str(exc)[:1000]))
        elif op is None or op.get("state") not in ("Succeeded", "Failed"):
            out.append(ObjectResult(a.object_type, a.name, a.action, "skipped",
                                    "not deployed: ARM did not reach it (a dependency failed or the deployment "
                                    "stopped)"))
        elif op["state"] == "Failed":
            out.append(ObjectResult(a.object_type, a.name, a.action, "failed",
                                    f"{op.get('code') or ''} {op.get('message') or ''}".strip()[:1000],
                                    {"code": op.get("code")} if op.get("code") else {}))
        else:
            out.append(ObjectResult(a.object_type, a.name, a.action, "succeeded"))
    return out


def deploy_all(client: FactoryClient, work: ArmWork, objects: list[PlannedAction], parallel: int,
               record: Callable[[list[ObjectResult]], None]) -> list[dict[str, Any]]:
    """Deploy wave after wave; raises the first failure (as ARM reported it) after recording every object."""
    by_unit: dict[str, list[PlannedAction]] = {}
    for a in objects:
        by_unit.setdefault(work.unit_of.get((a.object_type, a.name.lower()), ""), []).append(a)
    outs: list[dict[str, Any]] = []
    for i, wave in enumerate(work.waves):
        def one(d: tuple[str, dict[str, Any], dict[str, Any], str]) -> None:
            outs.append(client.deploy_template(d[0], d[1], d[2]))

        outcome = run_wave(wave, one, parallel)
        for d, exc in outcome:
            record(object_results(by_unit.get(d[3], []), exc))
        failed = [exc for _, exc in outcome if exc is not None]
        if failed:
            later = [a for w in work.waves[i + 1:] for d in w for a in by_unit.get(d[3], [])]
            record([ObjectResult(a.object_type, a.name, a.action, "skipped",
                                 "not deployed: an earlier linked template failed") for a in later])
            first = failed[0]
            if isinstance(first, DeploymentError) and len(failed) > 1:
                first.details = {**(first.details or {}), "failed_deployments": len(failed)}
            raise first
    return outs
