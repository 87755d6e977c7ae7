"""DataFactoryDeployer: plan and apply an ADF publish-branch commit to one environment.

Apply order: stop triggers (event triggers unsubscribed first) -> delete the
tumbling window triggers that must be replaced -> Incremental ARM deployment
named after the environment and short commit -> delete removed objects in
dependency order -> start triggers in dependency order. On a failure at any
step, every trigger this deployment stopped is started again (replaced ones
recreated first), in the same dependency-ordered waves as the start step, and
the result is ``failed`` with the step and ARM's error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..audit.records import ObjectResult
from ..deploy.model import ApplyResult, DeployContext, Plan
from ..errors import BadRequest, DataOpsError
from ..schedules.hold import hold_starts, record_hold
from .arm_step import ArmWork, arm_work, deploy_all, evaluator_for, key_function, preflight
from .build.deploy import load_template
from .client import FactoryClient, error_details
from .linked import unit_waves
from .loader import FactoryTemplate
from .ownership import check_ownership
from .parameters import ResolvedParameters, resolve_parameters
from .plan import IGNORED_PROPERTIES, ApplySchedule, LiveFactory, PlanOptions, build_plan, start_waves
from .recovery import Recovery, record_removal, recover_deployment
from .template import Evaluator, render_objects
from .waves import run_wave

if TYPE_CHECKING:
    from ..audit.ledger import AuditLedger
    from ..audit.records import DeploymentRecord
    from ..config import DataFactoryTarget, PlatformConfig
    from ..settings import Settings

log = logging.getLogger(__name__)


class StepFailed(Exception):
    """A step failed for some objects; the per-object errors are in the results."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


@dataclass
class Prepared:
    target: DataFactoryTarget
    factory: FactoryTemplate
    params: ResolvedParameters
    evaluator: Evaluator | None = None


def deployment_name(environment: str, commit: str) -> str:
    """ARM deployment name: environment + short commit (<= 64 chars, ARM's limit)."""
    return f"{environment}-{commit[:8]}"[:64]


class DataFactoryDeployer:
    """The ``adf`` component deployer (registered in ``shared.deploy.components``)."""

    component = "adf"

    def __init__(self, client_factory: Callable[[DataFactoryTarget, Settings], FactoryClient] | None = None
                 ) -> None:
        self._client_factory = client_factory or (lambda t, s: FactoryClient(t, s))

    # ------------------------------------------------------------------ plan
    def _prepare(self, ctx: DeployContext) -> Prepared:
        target = ctx.env.data_factory
        if target is None:
            raise BadRequest(f"environment {ctx.environment} has no data_factory target", code="no_target")
        factory = load_template(ctx.snapshot, ctx.config.adf)  # adf.source: publish branch or built from main
        params = resolve_parameters(factory.template, factory.parameter_values, factory_name=target.factory_name,
                                    snapshot=ctx.snapshot, parameters_file=target.parameters_file,
                                    config_values=target.parameters)
        prep = Prepared(target, factory, params)
        check_ownership(factory.template, evaluator_for(prep), target.factory_name)
        return prep

    def plan(self, ctx: DeployContext) -> Plan:
        """Desired state (publish output + parameters) vs the live factory. Raises on bad input."""
        prep = self._prepare(ctx)
        desired = render_objects(prep.factory.template, {}, evaluator=evaluator_for(prep),
                                 subscription_id=prep.target.subscription_id,
                                 resource_group=prep.target.resource_group)
        client = self._client_factory(prep.target, ctx.settings)
        from .client import OBJECT_KINDS

        listed: dict[str, list[dict[str, Any]]] = {}

        def list_kind(t: str) -> None:
            listed[t] = client.list_objects(t)

        for _, exc in run_wave(list(OBJECT_KINDS), list_kind, prep.target.max_parallel):
            if exc is not None:
                raise exc
        live = LiveFactory(listed)
        options = PlanOptions(prep.target.stop_triggers, prep.target.start_triggers, prep.target.delete_removed,
                              ctx.force)
        data = {"factory": prep.target.factory_name, "resource_group": prep.target.resource_group,
                "template": {"folder": prep.factory.folder or "/", "source": prep.factory.source,
                             "layout": prep.factory.layout, "files": prep.factory.files,
                             "resources": len(prep.factory.resources)},
                "parameters": prep.params.redacted(), "parameter_sources": prep.params.sources}
        waves = unit_waves(prep.factory.units, key_function(evaluator_for(prep))) if prep.factory.units else None
        plan = build_plan(environment=ctx.environment, commit=ctx.snapshot.sha, desired=desired, live=live,
                          options=options, data=data, deployment_waves=waves,
                          deployment_name=deployment_name(ctx.environment, ctx.snapshot.sha))
        if prep.params.warnings:
            plan = Plan(plan.component, plan.environment, plan.commit, plan.actions,
                        plan.warnings + tuple(prep.params.warnings), plan.refused, plan.data)
        # Stopped by its schedule: deploy, but leave the starts to the next schedule start.
        return hold_starts(ctx, plan, desired, listed.get("trigger", []))

    def what_if(self, ctx: DeployContext, plan: Plan) -> Plan:
        """``plan`` with ARM's what-if of its deployment(s) in ``data["what_if"]`` (changes nothing):
        counts by change type and the resources ARM would create or modify. An endpoint without
        what-if is reported as ``supported: false`` with its answer, not as an error."""
        from azure.core.exceptions import HttpResponseError

        prep = self._prepare(ctx)
        client = self._client_factory(prep.target, ctx.settings)
        sched = ApplySchedule.of_plan(plan)
        work = arm_work(prep, sched.deployment_name, sched.deployments)
        changes: list[dict[str, Any]] = []
        try:
            for name, template, params, _ in work.all:
                changes += client.arm.what_if(name, template, params)
        except HttpResponseError as exc:
            summary: dict[str, Any] = {"supported": False, "reason": error_details(exc).get("message")}
        else:
            counts: dict[str, int] = {}
            for c in changes:
                counts[str(c["change_type"])] = counts.get(str(c["change_type"]), 0) + 1
            summary = {"supported": True, "counts": counts,
                       "changes": [c for c in changes if c["change_type"] not in ("NoChange", "Ignore")][:200]}
        return Plan(plan.component, plan.environment, plan.commit, plan.actions, plan.warnings, plan.refused,
                    {**plan.data, "what_if": summary})

    # -------------------------------------------------------------- recovery
    def recover(self, config: PlatformConfig, rec: DeploymentRecord, settings: Settings,
                ledger: AuditLedger) -> Recovery:
        """After a worker died mid-deployment: restart the triggers its audit says it stopped (``recovery``)."""
        target = config.environment(rec.environment).data_factory
        if target is None:
            return Recovery()
        return recover_deployment(ledger, rec.id, target, settings, self._client_factory)

    # ----------------------------------------------------------------- apply
    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        """Carry out ``plan``; returns ``failed`` (never raises) when the factory or ARM refuses."""
        if plan.refused and not ctx.force:
            return ApplyResult("failed", error=f"plan refused: {plan.refused}", failed_step="plan",
                               error_details={"code": "plan_refused"})
        if ctx.dry_run:
            return ApplyResult("succeeded")
        if plan.commit != ctx.snapshot.sha:
            return ApplyResult("failed", error=f"plan is for {plan.commit[:12]}, snapshot is {ctx.snapshot.sha[:12]}",
                               failed_step="plan", error_details={"code": "plan_mismatch"})
        try:
            schedule = ApplySchedule.of_plan(plan)
            prep = self._prepare(ctx)
            client = self._client_factory(prep.target, ctx.settings)
        except DataOpsError as exc:
            return ApplyResult("failed", error=exc.message, failed_step="prepare",
                               error_details={"code": exc.code})
        run = _ApplyRun(ctx, plan, schedule, prep, client)
        result = run.execute()
        record_hold(ctx, plan, result)
        return result


class _ApplyRun:
    """One application of a plan, with what it stopped so that a failure can put it back."""

    def __init__(self, ctx: DeployContext, plan: Plan, schedule: ApplySchedule, prep: Prepared,
                 client: FactoryClient) -> None:
        self.ctx, self.plan, self.prep, self.client = ctx, plan, prep, client
        self.par = prep.target.max_parallel
        self.sched = schedule
        self.results: list[ObjectResult] = []
        self.stopped: list[str] = []
        self.unsubscribed: list[str] = []
        self.stranded: list[str] = []  # triggers the restore could not start again
        self.started: set[str] = set()
        self.deleted: set[tuple[str, str]] = set()
        self.replaced_defs: dict[str, dict[str, Any]] = {}
        self.recreate_defs: dict[tuple[str, str], dict[str, Any]] = {}  # deleted before the deployment
        self._lock = threading.Lock()
        self.types = schedule.trigger_types()

    # each wave's per-object outcome goes to the results and the audit
    def _wave(self, phase: str, action: str, object_type: str, names: Sequence[str],
              fn: Callable[[str], None]) -> list[str]:
        outcome = run_wave(names, fn, self.par)
        batch = [ObjectResult(object_type, n, action, "failed" if e else "succeeded",
                              None if e is None else str(e)[:1000],
                              {} if e is None or not isinstance(e, DataOpsError) or not isinstance(e.details, dict)
                              else {k: v for k, v in e.details.items() if k in ("code", "correlation_id")})
                 for n, e in outcome]
        self.results.extend(batch)
        self.ctx.steps.objects(batch, phase)
        return [n for n, e in outcome if e is not None]

    def execute(self) -> ApplyResult:
        step_name = "preflight"
        try:
            work = arm_work(self.prep, self.sched.deployment_name, self.sched.deployments)
            with self.ctx.steps.step("preflight", deployments=len(work.all)):
                preflight(self.client, work, self.par)
            step_name = "stop_triggers"
            with self.ctx.steps.step("stop_triggers", count=self.sched.stop_count):
                self._stop()
            if self.sched.replace:
                step_name = "replace_triggers"
                with self.ctx.steps.step("replace_triggers", count=len(self.sched.replace)):
                    self._replace()
            if self.sched.recreate:
                step_name = "recreate_objects"
                with self.ctx.steps.step("recreate_objects", count=len(self.sched.recreate)):
                    self._remove_for_recreate()
            step_name = "arm_deployment"
            self._deploy(work)
            step_name = "delete_removed"
            with self.ctx.steps.step("delete_removed", count=self.sched.delete_count):
                self._delete()
            step_name = "start_triggers"
            with self.ctx.steps.step("start_triggers", count=self.sched.start_count):
                self._start()
        except Exception as exc:  # any failure: put the triggers back, then report
            details = self._details(exc)
            self._put_back()
            self._restore()
            if self.stranded:
                details["stranded_triggers"] = sorted(self.stranded)
            return ApplyResult("failed", self.results, f"{step_name}: {exc}"[:2000], details, step_name)
        return ApplyResult("succeeded", self.results)

    @staticmethod
    def _details(exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, DataOpsError) and isinstance(exc.details, dict):
            return {"code": exc.code, **exc.details}
        if isinstance(exc, StepFailed):
            return exc.details
        return error_details(exc)

    def _record(self, phase: str) -> Callable[[list[ObjectResult]], None]:
        def record(batch: list[ObjectResult]) -> None:
            with self._lock:
                self.results.extend(batch)
            self.ctx.steps.objects(batch, phase)
        return record

    def _deploy(self, work: ArmWork) -> None:
        """The ARM deployment(s); the step carries the correlation id, failed or not."""
        names = [d[0] for d in work.all]
        with self.ctx.steps.step("arm_deployment", deployment=self.sched.deployment_name,
                                 **({"deployments": len(names)} if len(names) > 1 else {})) as rec:
            try:
                outs = deploy_all(self.client, work, self.plan.of("create", "update", "replace"), self.par,
                                  self._record("arm_deployment"))
            except DataOpsError as exc:
                if isinstance(exc.details, dict) and exc.details.get("correlation_id"):
                    rec.details["correlation_id"] = exc.details["correlation_id"]
                raise
            rec.details["correlation_id"] = outs[0].get("correlation_id") if len(outs) == 1 else \
                [o.get("correlation_id") for o in outs][:100]

    # ------------------------------------------------------------------ steps
    def _stop(self) -> None:
        unsub = list(self.sched.unsubscribe)

        def unsubscribe(name: str) -> None:
            with self._lock:
                self.unsubscribed.append(name)  # even if it fails: it may have happened
            self.client.unsubscribe_trigger(name)

        failed = self._wave("stop_triggers", "unsubscribe", "trigger", unsub, unsubscribe)
        if failed:
            raise StepFailed(f"could not unsubscribe event triggers: {', '.join(failed)}",
                             {"code": "unsubscribe_failed", "triggers": failed})

        def stop(name: str) -> None:
            self.client.stop_trigger(name)
            with self._lock:
                self.stopped.append(name)

        for wave in self.sched.stop_waves:
            failed = self._wave("stop_triggers", "stop", "trigger", list(wave), stop)
            if failed:
                raise StepFailed(f"could not stop triggers: {', '.join(failed)}",
                                 {"code": "stop_failed", "triggers": failed})

    def _replace(self) -> None:
        names = list(self.sched.replace)
        for n in names:
            cur = self.client.get_object("trigger", n)
            if cur is not None:
                self.replaced_defs[n] = {"properties": {k: v for k, v in (cur.get("properties") or {}).items()
                                                        if k != "runtimeState"}}

        def delete(name: str) -> None:
            self.client.delete_object("trigger", name)

        waves = self.sched.replace_waves or (tuple(names),)
        for i, wave in enumerate(waves):  # write-ahead: the definitions are in the audit before any delete
            for n in wave:
                if n in self.replaced_defs:
                    record_removal(self.ctx.ledger, self.ctx.deployment_id, "replace_triggers", "trigger", n,
                                   self.replaced_defs[n], wave=i)
        for wave in waves:
            failed = self._wave("replace_triggers", "delete", "trigger", list(wave), delete)
            if failed:
                raise StepFailed(f"could not delete triggers to replace: {', '.join(failed)}",
                                 {"code": "replace_failed", "triggers": failed})

    def _remove_for_recreate(self) -> None:
        """Delete what the deployment recreates (an in-place change ADF refuses), keeping the definitions."""
        for ref in self.sched.recreate:
            cur = self.client.get_object(ref.object_type, ref.name)
            if cur is not None:
                props = {k: v for k, v in (cur.get("properties") or {}).items() if k not in IGNORED_PROPERTIES}
                self.recreate_defs[(ref.object_type, ref.name)] = {"properties": props}
                record_removal(self.ctx.ledger, self.ctx.deployment_id, "recreate_objects", ref.object_type,
                               ref.name, {"properties": props})
        by_type: dict[str, list[str]] = {}
        for ref in self.sched.recreate:
            by_type.setdefault(ref.object_type, []).append(ref.name)
        for otype, names in by_type.items():
            def delete(name: str, otype: str = otype) -> None:
                self.client.delete_object(otype, name)

            failed = self._wave("recreate_objects", "delete", otype, names, delete)
            if failed:
                raise StepFailed(f"could not delete {otype} to recreate: {', '.join(failed)}",
                                 {"code": "recreate_failed", "objects": failed})

    def _put_back(self) -> None:
        """After a failure: objects deleted for recreation and still absent get their old definition back."""
        def put_back(key: tuple[str, str]) -> None:
            if self.client.get_object(*key) is None:
                self.client.put_object(key[0], key[1], self.recreate_defs[key])

        for key, exc in run_wave(list(self.recreate_defs), put_back, self.par):
            batch = [ObjectResult(key[0], key[1], "recreate", "failed" if exc else "succeeded",
                                  None if exc is None else str(exc)[:1000])]
            self._record("restore_objects")(batch)

    def _delete(self) -> None:
        for wave in self.sched.delete_waves:
            by_type: dict[str, list[str]] = {}
            for item in wave:
                by_type.setdefault(item.object_type, []).append(item.name)
            for otype, names in by_type.items():
                def delete(name: str, otype: str = otype) -> None:
                    self.client.delete_object(otype, name)
                    with self._lock:
                        self.deleted.add((otype, name))

                failed = self._wave("delete_removed", "delete", otype, names, delete)
                if failed:
                    raise StepFailed(f"could not delete {otype}: {', '.join(failed)}",
                                     {"code": "delete_failed", "objects": failed})

    def _start_one(self, name: str) -> None:
        self.client.start_trigger(name)
        with self._lock:
            self.started.add(name)
        # starting subscribes an event trigger; make sure the subscription is really enabled (bounded wait)
        if self.types.get(name) in ("BlobEventsTrigger", "CustomEventsTrigger") \
                and self.client.event_subscription_status(name) != "Enabled":
            self.client.subscribe_trigger(name)

    def _ensure_subscribed(self, name: str) -> None:
        if self.client.event_subscription_status(name) != "Enabled":
            self.client.subscribe_trigger(name)

    def _start(self) -> None:
        for wave in self.sched.start_waves:
            failed = self._wave("start_triggers", "start", "trigger", list(wave), self._start_one)
            if failed:
                raise StepFailed(f"could not start triggers: {', '.join(failed)}",
                                 {"code": "start_failed", "triggers": failed})

    def _restore(self) -> None:
        """Put back every trigger this deployment stopped or removed for replacement (best effort, recorded)."""
        with self._lock:
            todo = [n for n in self.stopped if n not in self.started and ("trigger", n) not in self.deleted]
        try:
            with self.ctx.steps.step("restore_triggers", count=len(todo)) as rec:
                def recreate(name: str) -> None:
                    if self.client.get_object("trigger", name) is None:
                        self.client.put_object("trigger", name, self.replaced_defs[name])

                # what others depend on first: the reverse of the delete waves
                for wave in reversed(self.sched.replace_waves or (tuple(self.replaced_defs),)):
                    self._wave("restore_triggers", "recreate", "trigger",
                               [n for n in wave if n in self.replaced_defs], recreate)
                # the definitions as they are now (the failed deployment may have changed some): they say
                # which tumbling window trigger must wait for which (ADF may refuse to start it earlier)
                live: dict[str, dict[str, Any]] = {}

                def read(name: str) -> None:
                    cur = self.client.get_trigger(name)
                    if cur is not None:
                        with self._lock:
                            live[name] = cur.get("properties") or {}

                for n, exc in run_wave(todo, read, self.par):
                    if exc is not None:  # unreadable, not missing: still try to start it (recorded if it fails)
                        log.warning("restore: could not read trigger %s: %s", n, exc)
                        live[n] = {}
                # the same dependency-ordered waves as the start step; a failure does not stop later waves
                waves, _ = start_waves([n for n in todo if n in live], live)
                failed: list[str] = []
                for names in waves:
                    failed += self._wave("restore_triggers", "start", "trigger", names, self._start_one)
                # event triggers unsubscribed but never stopped are still Started: subscribe them again
                resub = [n for n in dict.fromkeys(self.unsubscribed) if n not in self.stopped]
                failed += self._wave("restore_triggers", "subscribe", "trigger", resub,
                                     lambda n: self._ensure_subscribed(n))
                self.stranded = failed
                if failed:
                    rec.details["stranded"] = sorted(failed)
                    raise StepFailed(f"stranded: could not restart triggers {', '.join(failed)}")
        except Exception:  # the original failure is what the caller gets; this one is in the audit
            log.exception("restoring triggers after a failed deployment")
