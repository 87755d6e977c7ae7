"""Verification on its own: ``dataops verify --env ENV [--component C]`` runs the checks here against
what is deployed now; ``POST /api/environments/{env}/verify`` queues the same run (:mod:`.queued`).

The run is recorded as an activity (kind ``verification``) of the environment; data-quality
issues from it are attributed to the deployment the environment currently holds for the
check's component (the first of its ``on`` list that has one).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ..audit.records import Activity
from .gate import record_quality_issues
from .runner import Verification, Verifier, checks_for

if TYPE_CHECKING:
    from ..app import AppContext

ACTIVITY_KIND = "verification"


def verify_environment(app: AppContext, environment: str, component: str | None = None, *,
                       actor: str | None = None, verifier: Verifier | None = None) -> Verification:
    """Run the checks of ``environment`` (those ``on`` ``component``, or all) here; record and return them."""
    config = app.config
    config.environment(environment)  # 404 for an unknown environment
    if component is not None:
        app.components.get(component)  # 400 for an unknown component
    run_id = uuid.uuid4().hex[:12]
    v = run_checks(app, environment, component, run_id=run_id, verifier=verifier)
    app.ledger.record_activity(Activity(
        environment=environment, kind=ACTIVITY_KIND, key=f"verify/{run_id}", at=app.clock.now(), actor=actor,
        status="passed" if v.passed else "failed",
        summary=f"verification of {environment}" + (f" ({component})" if component else "") + f": {v.summary()}",
        data=v.to_json()))
    return v


def run_checks(app: AppContext, environment: str, component: str | None, *, run_id: str,
               verifier: Verifier | None = None) -> Verification:
    """Run the checks and attribute their data-quality issues (the caller records the verification).
    ``run_id`` names the runs, so a verification run again (a worker that died) re-attaches to them."""
    checks = checks_for(app.config.environment(environment), component)
    v = (verifier or Verifier()).run(app.config, environment, component, app.settings,
                                     run_name=f"dataops verify {environment} {run_id}", checks=checks)
    _attribute_quality_issues(app, v, {c.name: list(c.on) for c in checks}, component)
    return v


def _attribute_quality_issues(app: AppContext, v: Verification, on: dict[str, list[str]],
                              component: str | None) -> None:
    from ..deploy.current import CurrentDeployments

    current = CurrentDeployments(app.storage)
    for result in v.results:
        if not result.failed_expectations:
            continue
        order = [component] if component else on.get(result.name, [])
        held = next((d for d in (current.get(v.environment, c) for c in order) if d is not None), None)
        if held is None:
            continue  # nothing deployed to attribute it to
        rec = app.ledger.get_deployment(held.deployment_id, with_plan=False)
        record_quality_issues(app.ledger, rec, Verification(v.environment, component, [result]))
