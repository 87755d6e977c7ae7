"""Blueprint: the deployment worker (queue trigger) and the poison-queue recorder.

The deployment queue also carries branch merge checks and queued verifications
(``POST /api/environments/{env}/verify``)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.settings import DEPLOY_QUEUE_BINDING, POISON_QUEUE_BINDING

bp = func.Blueprint()
log = logging.getLogger("dataops.worker")


@bp.queue_trigger(arg_name="msg", queue_name=DEPLOY_QUEUE_BINDING, connection="AzureWebJobsStorage")
def deployment_worker(msg: func.QueueMessage, context: func.Context) -> None:
    """Run one deployment request. A lock held elsewhere puts it back with a delay (it waits, not fails)."""
    from shared import telemetry

    with telemetry.invocation(context):
        _run_request(msg)


def _run_request(msg: func.QueueMessage) -> None:
    from shared import app as app_context
    from shared.branches.intake import parse_sweep
    from shared.deploy.request import DeploymentRequest
    from shared.errors import BadRequest

    sweep = parse_sweep(msg.get_body())
    if sweep is not None:  # a push to main: remove the branch workspaces it merged
        from shared.branches.sweep import sweep as sweep_branches

        report = sweep_branches(app_context.current(), sweep["main"])
        log.info("branch merge check of %s: %s", sweep["main"][:12], report.to_json())
        return
    from shared.verify import queued

    verification = queued.parse_request(msg.get_body())
    if verification is not None:  # POST /api/environments/{env}/verify
        queued.run_requested(app_context.current(), verification, attempt=msg.dequeue_count or 1)
        return
    try:
        request = DeploymentRequest.from_bytes(msg.get_body())
    except BadRequest as err:
        log.error("queue message %s is not a deployment request: %s", msg.id, err.message)
        return  # retrying cannot fix it
    from shared.release import release_orchestrator

    ctx = app_context.current()
    orchestrator = release_orchestrator(ctx, holder=f"worker:{msg.id}",
                                        lock_retry_seconds=ctx.settings.lock_retry_seconds)
    orchestrator.run(request)  # logs the outcome inside the deployment's trace


@bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE_BINDING, connection="AzureWebJobsStorage")
def deployment_poison(msg: func.QueueMessage, context: func.Context) -> None:
    """A request that failed ``maxDequeueCount`` times: its deployment is recorded ``failed``."""
    from shared import app as app_context
    from shared import telemetry
    from shared.deploy.orchestrator import record_poisoned
    from shared.release import after_end_hooks

    with telemetry.invocation(context):
        ctx = app_context.current()
        from shared.verify import queued

        vid = queued.record_poisoned(ctx, msg.get_body(), "the verification request failed repeatedly and was "
                                                           "moved to the poison queue")
        if vid is not None:
            log.error("verification request poisoned: %s", vid)
            return
        did = record_poisoned(ctx.ledger, msg.get_body(),
                              "the deployment request failed repeatedly and was moved to the poison queue",
                              hooks=after_end_hooks(ctx.config, ctx.storage, ctx.ledger, ctx.settings, ctx.clock))
    log.error("deployment request poisoned: %s", did)
