"""The ``verify`` step of a deployment, and data-quality issues from what checks returned.

After a deployment applied, the environment's checks for its component run (step ``verify``).
Every check is recorded in the audit (object type ``check``, phase ``verify``: state, run id and
URL, duration, error or output summary) and traced. A blocking check that did not pass turns
the deployment ``failed`` (``error_details.failed_step: verify``): ``on_failure: rollback`` and
notifications apply, it counts as a change failure, and nothing is promoted from it.

Each failed expectation of a check's data-quality output becomes a ``data_quality`` incident
attributed to the deployment (and, in its cause, the authors of the commits it carries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..metrics.incidents import Incident
from .runner import Verification, Verifier, checks_for

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from ..audit.records import DeploymentRecord
    from ..deploy.model import ApplyResult, DeployContext

log = logging.getLogger(__name__)
VERIFY_ACTOR = "dataops:verify"


def authors_of(rec: DeploymentRecord) -> list[str]:
    """The people a deployment carries: its commits' authors and co-authors (git identities)."""
    people: list[str] = []
    for c in rec.commits:
        people.extend(c.people())
    return list(dict.fromkeys(p for p in people if p))


def record_quality_issues(ledger: AuditLedger, rec: DeploymentRecord, verification: Verification) -> list[Incident]:
    """One ``data_quality`` incident per failed expectation (the same one is recorded once per deployment)."""
    out: list[Incident] = []
    authors = authors_of(rec)
    for r in verification.results:
        for e in r.failed_expectations:
            cause = {"kind": "deployment", "value": rec.id, "deployment_id": rec.id, "authors": authors,
                     "note": f"expectation {e.expectation} failed in check {r.name} verifying {rec.id}",
                     "check": r.name, "run_id": r.run_id, "run_url": r.run_url, "expectation": e.to_json(),
                     "commit": rec.commit}
            incident = Incident(id="", environment=rec.environment, kind="data_quality",
                                title=f"{r.name}: {e.expectation}"[:200], opened_at=ledger.clock.now(),
                                deployment_id=rec.id, cause=cause, actor=VERIFY_ACTOR)
            activity, _ = ledger.record_activity(incident.to_activity(f"dq|{rec.id}|{r.name}|{e.expectation}"))
            incident.id = activity.id
            out.append(incident)
    return out


@dataclass
class VerifyStep:
    """Plugged into the orchestrator (``verify=``): runs after a successful apply."""

    verifier: Verifier = field(default_factory=Verifier)

    def __call__(self, ctx: DeployContext, rec: DeploymentRecord, result: ApplyResult) -> ApplyResult:
        from ..deploy.model import ApplyResult

        checks = checks_for(ctx.env, rec.component)
        if not checks:
            return result
        with ctx.steps.step("verify", component=rec.component, checks=[c.name for c in checks]) as step:
            v = self.verifier.run(ctx.config, rec.environment, rec.component, ctx.settings,
                                  run_name=f"dataops verify {rec.id}", checks=checks)
            step.details.update(status="passed" if v.passed else "failed", summary=v.summary())
            if not v.passed:
                step.status = "failed"
                step.error = "; ".join(r.summary() for r in v.blocking_failures)[:2000]
        ctx.steps.objects([r.object_result() for r in v.results], phase="verify")
        if ctx.ledger is not None:
            try:
                record_quality_issues(ctx.ledger, rec, v)
            except Exception:  # the outcome is the checks', not the issue log's
                log.exception("recording data-quality issues of %s failed", rec.id)
        if v.passed:
            return result
        failures = v.blocking_failures
        error = (f"verification failed: {len(failures)} blocking check{'s' if len(failures) != 1 else ''} "
                 "did not pass: " + "; ".join(r.summary() for r in failures))
        return ApplyResult("failed", result.objects, error=error[:4000], failed_step="verify",
                           error_details={"failed_step": "verify", "verification": v.to_json()})
