"""Promotion: a commit that succeeded where it had to moves on to the next environments.

When a deployment of commit S succeeds, every environment with
``deploy_on: [promotion]`` whose ``requires`` all have a successful deployment
of S (same component) gets a deployment of S queued (trigger ``promotion``,
the pusher carried over). A claim per (environment, component, commit) makes
it happen exactly once, even when two required environments finish together or
a hook runs twice. Rollbacks are not promoted.
"""

from __future__ import annotations

import logging

from ..audit.ledger import AuditLedger
from ..audit.records import Activity, DeploymentRecord
from ..claims import Claims
from ..config import PlatformConfig
from ..deploy.orchestrator import AfterEnd, Gate, GateInput, Hold, submit
from ..deploy.queue import DeploymentQueue

log = logging.getLogger(__name__)

SCOPE = "promotion"


def promotion_targets(config: PlatformConfig, succeeded_in: str) -> list[str]:
    """Environments promoted to from ``succeeded_in`` (pure: the config alone)."""
    return [name for name, env in config.environments.items()
            if "promotion" in env.deploy_on and succeeded_in in env.requires]


def has_succeeded(ledger: AuditLedger, environment: str, component: str, commit: str) -> bool:
    """Whether ``commit`` has a successful ``component`` deployment in ``environment``."""
    page = ledger.list_deployments(environment, component=component, status="succeeded", commit=commit, limit=5)
    return any(r.commit == commit and r.trigger != "branch" for r in page.items)  # not a branch workspace


def promote(config: PlatformConfig, ledger: AuditLedger, queue: DeploymentQueue,
            rec: DeploymentRecord) -> list[DeploymentRecord]:
    """Queue the promotions that ``rec`` (a success) completes; returns the deployments queued."""
    if rec.status != "succeeded" or rec.trigger == "rollback":
        return []
    claims = Claims(ledger.storage)
    queued: list[DeploymentRecord] = []
    for name in promotion_targets(config, rec.environment):
        env = config.environments[name]
        missing = [r for r in env.requires if r != rec.environment
                   and not has_succeeded(ledger, r, rec.component, rec.commit)]
        if missing:
            log.info("%s of %s not promoted to %s yet: waits for %s", rec.component, rec.commit[:12], name,
                     ", ".join(missing))
            continue
        key = f"{name}/{rec.component}/{rec.commit}"
        won, _ = claims.claim(SCOPE, key, {"from": rec.id}, at=ledger.clock.now())
        if not won:
            continue  # already promoted
        try:
            new = submit(ledger, queue, environment=name, component=rec.component, commit=rec.commit,
                         ref=rec.ref, repository=rec.repository, trigger="promotion", actor=rec.actor,
                         actor_verified=rec.actor_verified, actor_source=rec.actor_source, seed=f"promotion:{rec.commit}", commit_time=rec.commit_time, commits=rec.commits,
                         extra={"promoted_from": rec.id})
        except Exception:
            claims.release(SCOPE, key)  # not queued: a later success may promote it
            raise
        ledger.record_activity(Activity(
            environment=name, kind="promotion", key=key, at=ledger.clock.now(), actor=rec.actor,
            status="queued", deployment_id=new.id,
            summary=f"{rec.component} {rec.commit[:12]} promoted from {rec.environment} to {name}",
            data={"from_deployment": rec.id, "requires": list(env.requires)}))
        queued.append(new)
    return queued


def promotion_hook(config: PlatformConfig, ledger: AuditLedger, queue: DeploymentQueue) -> AfterEnd:
    """The after-end hook form of :func:`promote`."""

    def hook(rec: DeploymentRecord) -> None:
        promote(config, ledger, queue, rec)

    return hook


def requires_gate() -> Gate:
    """``requires`` holds for every deployment, not only promotions: a commit that has not succeeded
    in each required environment is ``rejected`` before anything changes, unless forced (``dataops
    deploy --force --reason``, recorded as a ``requires_override`` activity). Rollbacks go back to a
    commit that already ran in the environment and are not checked."""

    def gate(g: GateInput) -> Hold | None:
        rec = g.record
        env = g.config.environments.get(rec.environment)
        if env is None or not env.requires or rec.trigger in ("rollback", "promotion"):
            return None
        missing = [r for r in env.requires if not has_succeeded(g.ledger, r, rec.component, rec.commit)]
        if not missing:
            return None
        if g.request.force or rec.forced:
            g.ledger.record_activity(Activity(
                environment=rec.environment, kind="requires_override", key=rec.id, at=g.ledger.clock.now(),
                actor=rec.actor, status="forced", deployment_id=rec.id,
                summary=f"{rec.component} {rec.commit[:12]} deployed with force before succeeding in "
                        f"{', '.join(missing)}: {rec.extra.get('force_reason') or 'no reason given'}",
                data={"missing": missing, "reason": rec.extra.get("force_reason")}))
            return None
        return Hold("rejected", f"requires: {rec.commit[:12]} has not succeeded in {', '.join(missing)} "
                                f"(environment {rec.environment} requires {', '.join(env.requires)}); "
                                "deploy it there first, or --force --reason")

    return gate
