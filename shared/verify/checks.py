"""Running one check to a terminal state (or its timeout), through the official SDKs.

* Databricks job: ``jobs/run-now`` of an existing job (by id, or by name through ``jobs/list``),
  then ``runs/get`` until the run ends, then ``runs/get-output`` of each task run;
* Databricks notebook: ``runs/submit`` of a one-time notebook run from the deployed folder on
  serverless compute, an existing cluster (by name) or a new cluster under a cluster policy;
* ADF pipeline: ``createRun``, ``pipelineruns/{id}`` until ``Succeeded | Failed | Cancelled``,
  then ``queryActivityruns`` for the activity runs that failed;
* HTTP: a GET/HEAD of the URL held by an app setting, compared with the expected status.

A check that cannot start (unknown job, cluster or pipeline, a refused cluster policy) ends
``not_started`` with the reason. One that outlives its timeout has its runs cancelled
(``runs/cancel``, pipeline run ``cancel``) and ends ``timed_out``. Polling sleeps
``poll_interval`` between looks (``verification.poll_interval``; injected by tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from .. import telemetry
from .model import FAILED, NOT_STARTED, PASSED, TIMED_OUT, CheckResult, clip, parse_expectations

if TYPE_CHECKING:
    from ..config import Environment, VerifyCheck
    from ..settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
DATABRICKS_ENDED = frozenset({"TERMINATED", "INTERNAL_ERROR", "SKIPPED"})
ADF_ENDED = frozenset({"Succeeded", "Failed", "Cancelled"})


class CannotStart(Exception):
    """The check could not start its run (the reason is the message)."""


@dataclass
class VerifyRuntime:
    """What checks need besides the configuration: clocks, poll interval and client builders."""

    poll_interval: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    databricks: Callable[..., Any] | None = None  # (target, settings) -> WorkspaceClient
    factory: Callable[..., Any] | None = None  # (target, settings) -> DataFactoryManagementClient
    http_session: Any = None  # requests.Session
    clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def workspace(self, env: Environment, settings: Settings) -> Any:
        target = env.databricks
        assert target is not None
        from ..databricks.client import workspace_client

        return self._client(f"dbx:{target.host}", lambda: (self.databricks or workspace_client)(target, settings))

    def _client(self, key: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self.clients:
                self.clients[key] = build()
            return self.clients[key]

    def data_factory(self, env: Environment, settings: Settings) -> Any:
        target = env.data_factory
        assert target is not None
        from ..adf.arm import factory_client

        return self._client(f"adf:{target.arm_endpoint}:{target.subscription_id}",
                            lambda: (self.factory or factory_client)(target, settings))

    def poll(self, deadline: float, look: Callable[[], T | None]) -> T | None:
        """``look()`` until it returns something or ``deadline`` (monotonic) passes (then None)."""
        while True:
            found = look()
            if found is not None:
                return found
            left = deadline - self.monotonic()
            if left <= 0:
                return None
            self.sleep(min(self.poll_interval, left))


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return telemetry.redact(text, [])[:500]


def idempotency_token(run_name: str) -> str:
    """The Jobs API idempotency token of a run (at most 64 characters): a retried start returns the run
    the first one started instead of starting a second."""
    import hashlib

    return hashlib.sha256(run_name.encode()).hexdigest()[:64]


def run_check(check: VerifyCheck, env: Environment, settings: Settings, rt: VerifyRuntime, *,
              run_name: str) -> CheckResult:
    """Run ``check`` to its end; never raises for what the target answers (the result says it)."""
    result = CheckResult(check.name, check.kind, check.blocking)
    started = rt.monotonic()
    deadline = started + check.timeout
    try:
        if check.kind == "databricks_job":
            _job(check, env, settings, rt, deadline, result, run_name)
        elif check.kind == "databricks_notebook":
            _notebook(check, env, settings, rt, deadline, result, run_name)
        elif check.kind == "adf_pipeline":
            _pipeline(check, env, settings, rt, deadline, result)
        else:
            _http(check, settings, rt, result)
    except CannotStart as exc:
        result.state, result.error = NOT_STARTED, f"cannot start: {exc}"
    except Exception as exc:  # an unreachable service or an SDK error mid-way: the check failed
        log.warning("check %s failed: %s", check.name, type(exc).__name__)
        result.state, result.error = FAILED, f"{type(exc).__name__}: {_message(exc)}"
    result.duration_s = rt.monotonic() - started
    if result.state == PASSED and check.data_quality and result.failed_expectations:
        errors = [e for e in result.failed_expectations if e.severity == "error"]
        if errors:
            result.state = FAILED
            result.error = (f"{len(errors)} of {len(result.expectations)} data-quality expectations failed: "
                            + ", ".join(e.expectation for e in errors[:10]))
    return result


# ------------------------------------------------------------------------------ Databricks
def _job_id(w: Any, check: VerifyCheck) -> int:
    if check.job_id is not None:
        return check.job_id
    found = [j for j in w.jobs.list(name=check.job) if j.settings and j.settings.name == check.job]
    if not found:
        raise CannotStart(f"no Databricks job named {check.job!r}")
    if len(found) > 1:
        raise CannotStart(f"{len(found)} Databricks jobs are named {check.job!r} "
                          f"(ids {', '.join(str(j.job_id) for j in found)}): use job_id")
    return int(found[0].job_id)


def _start(what: str, fn: Callable[[], T]) -> T:
    from databricks.sdk.errors import DatabricksError

    try:
        return fn()
    except DatabricksError as exc:
        raise CannotStart(f"{what} refused: {_message(exc)}") from None


def _job(check: VerifyCheck, env: Environment, settings: Settings, rt: VerifyRuntime, deadline: float,
         result: CheckResult, run_name: str) -> None:
    w = rt.workspace(env, settings)
    job_id = _job_id(w, check)
    params = {k: str(v) for k, v in check.parameters.items()} or None
    waiter = _start(f"run-now of job {job_id}", lambda: w.jobs.run_now(
        job_id=job_id, job_parameters=params, idempotency_token=idempotency_token(run_name)))
    _wait_databricks(w, check, int(waiter.response.run_id), rt, deadline, result)


def _notebook_path(check: VerifyCheck, env: Environment) -> str:
    assert check.notebook is not None and env.databricks is not None
    if check.notebook.startswith("/"):
        return check.notebook
    return f"{env.databricks.target_dir.rstrip('/')}/{check.notebook.strip('/')}"


def _compute(w: Any, check: VerifyCheck) -> dict[str, Any]:
    if check.cluster:
        for c in w.clusters.list():
            if check.cluster in (c.cluster_name, c.cluster_id):
                return {"existing_cluster_id": c.cluster_id}
        raise CannotStart(f"no Databricks cluster named {check.cluster!r}")
    if check.cluster_policy_id:
        return {"new_cluster": {**check.new_cluster, "policy_id": check.cluster_policy_id}}
    return {}  # serverless


def _notebook(check: VerifyCheck, env: Environment, settings: Settings, rt: VerifyRuntime, deadline: float,
              result: CheckResult, run_name: str) -> None:
    from databricks.sdk.service.jobs import SubmitTask

    w = rt.workspace(env, settings)
    task = SubmitTask.from_dict({
        "task_key": "verify", **_compute(w, check),
        "notebook_task": {"notebook_path": _notebook_path(check, env), "source": "WORKSPACE",
                          "base_parameters": {k: str(v) for k, v in check.parameters.items()}}})
    waiter = _start("runs/submit", lambda: w.jobs.submit(run_name=run_name[:100], tasks=[task],
                                                         timeout_seconds=int(check.timeout) + 60,
                                                         idempotency_token=idempotency_token(run_name)))
    _wait_databricks(w, check, int(waiter.response.run_id), rt, deadline, result)


def _wait_databricks(w: Any, check: VerifyCheck, run_id: int, rt: VerifyRuntime, deadline: float,
                     result: CheckResult) -> None:
    result.run_id = str(run_id)

    def look() -> Any:
        run = w.jobs.get_run(run_id)
        result.run_url = run.run_page_url or result.run_url
        life = run.state.life_cycle_state.value if run.state and run.state.life_cycle_state else ""
        return run if life in DATABRICKS_ENDED else None

    run = rt.poll(deadline, look)
    if run is None:
        w.jobs.cancel_run(run_id)  # asynchronous: the run goes TERMINATING -> CANCELED
        result.cancelled.append(str(run_id))
        result.state, result.run_state = TIMED_OUT, "CANCELED"
        result.error = f"did not end within {check.timeout:g}s: run {run_id} cancelled"
        return
    state = run.state
    life = state.life_cycle_state.value if state.life_cycle_state else ""
    outcome = state.result_state.value if state.result_state else life
    result.run_state = outcome
    outputs, errors = [], []
    for task in run.tasks or []:
        if task.run_id is None:
            continue
        out = w.jobs.get_run_output(task.run_id)
        if out.notebook_output and out.notebook_output.result is not None:
            outputs.append(out.notebook_output.result)
        if out.error:
            errors.append(f"{task.task_key}: {out.error}")
    text = "\n".join(outputs)
    result.output = clip(text) if text else None
    if check.data_quality:
        for one in outputs:
            result.expectations.extend(parse_expectations(one) or [])
    if outcome == "SUCCESS":
        result.state = PASSED
        return
    result.state = FAILED
    reason = "; ".join(errors) or state.state_message or outcome
    result.error = clip(f"{outcome}: {reason}", 500)


# ------------------------------------------------------------------------------ Data Factory
def monitoring_url(env: Environment, run_id: str) -> str:
    t = env.data_factory
    assert t is not None
    factory = (f"/subscriptions/{t.subscription_id}/resourceGroups/{t.resource_group}/providers/"
               f"Microsoft.DataFactory/factories/{t.factory_name}")
    return f"https://adf.azure.com/en/monitoring/pipelineruns/{run_id}?factory={quote(factory, safe='')}"


def _pipeline(check: VerifyCheck, env: Environment, settings: Settings, rt: VerifyRuntime, deadline: float,
              result: CheckResult) -> None:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    t = env.data_factory
    assert t is not None and check.pipeline is not None
    df = rt.data_factory(env, settings)
    try:
        created = df.pipelines.create_run(t.resource_group, t.factory_name, check.pipeline,
                                          parameters=dict(check.parameters))
    except ResourceNotFoundError:
        raise CannotStart(f"pipeline {check.pipeline!r} does not exist in factory {t.factory_name}") from None
    except HttpResponseError as exc:
        raise CannotStart(f"createRun of {check.pipeline} refused: {_message(exc)}") from None
    run_id = str(created.run_id)
    result.run_id, result.run_url = run_id, monitoring_url(env, run_id)
    opened = datetime.now(UTC)

    def look() -> Any:
        run = df.pipeline_runs.get(t.resource_group, t.factory_name, run_id)
        return run if run.status in ADF_ENDED else None

    run = rt.poll(deadline, look)
    if run is None:
        df.pipeline_runs.cancel(t.resource_group, t.factory_name, run_id, is_recursive=True)
        result.cancelled.append(run_id)
        result.state, result.run_state = TIMED_OUT, "Cancelled"
        result.error = f"did not end within {check.timeout:g}s: pipeline run {run_id} cancelled"
        return
    result.run_state = run.status
    if run.status == "Succeeded":
        result.state = PASSED
        return
    result.state = FAILED
    query = {"lastUpdatedAfter": (opened - timedelta(hours=1)).isoformat(),
             "lastUpdatedBefore": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
             "filters": [{"operand": "Status", "operator": "Equals", "values": ["Failed"]}]}
    acts = df.activity_runs.query_by_pipeline_run(t.resource_group, t.factory_name, run_id, query)
    for a in (acts.value or [])[:20]:
        err = a.error if isinstance(a.error, dict) else {}
        result.failed_activities.append({"activity": a.activity_name, "type": a.activity_type,
                                         "error_code": err.get("errorCode"),
                                         "message": clip(err.get("message"), 500)})
    first = result.failed_activities[0] if result.failed_activities else None
    why = f"activity {first['activity']} failed: {first['message']}" if first else (run.message or run.status)
    result.error = clip(f"{run.status}: {why}", 500)


# ------------------------------------------------------------------------------ HTTP
def _http(check: VerifyCheck, settings: Settings, rt: VerifyRuntime, result: CheckResult) -> None:
    import requests

    assert check.http is not None
    from ..errors import DataOpsError

    try:
        url = settings.secret(check.http.url_setting)
    except DataOpsError as err:  # an unresolved Key Vault reference: named, never shown
        raise CannotStart(err.message) from None
    if not url:
        raise CannotStart(f"app setting {check.http.url_setting} (the URL) is not set")
    session = rt.http_session or requests.Session()
    result.run_url = None  # the URL may carry a key: only the setting's name is recorded
    try:
        resp = session.request(check.http.method, url, timeout=(5, max(1.0, check.timeout)),
                               allow_redirects=False)
    except requests.Timeout:
        result.state, result.error = TIMED_OUT, f"no answer within {check.timeout:g}s"
        return
    except requests.RequestException as exc:
        raise CannotStart(f"{check.http.url_setting}: {type(exc).__name__}") from None
    result.run_state = str(resp.status_code)
    result.output = clip(telemetry.redact(resp.text, [url]), 300) if check.http.method == "GET" else None
    if resp.status_code == check.http.expect_status:
        result.state = PASSED
    else:
        result.state = FAILED
        result.error = f"answered {resp.status_code}, expected {check.http.expect_status}"
