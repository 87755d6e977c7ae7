"""Job runs of the Databricks stand-in: ``run-now``, ``runs/submit``, ``runs/get``,
``runs/get-output``, ``runs/cancel`` (pure state, no HTTP).

Runs move lazily, like the compute state: a run records when it started and how long its
:class:`RunScript` says it lasts, and every read settles it (no threads). What a run does is
scripted per notebook path or job name (:meth:`RunsState.script`); without a script a notebook
task succeeds after ``default_run_s`` and its output is the string literal of the notebook's
``dbutils.notebook.exit("...")`` call, when its source has one.

The rules reproduced from the Jobs API 2.1/2.2:

* ``run-now`` of an unknown job: 400 ``INVALID_PARAMETER_VALUE`` "Job N does not exist.";
* ``runs/submit``: every task needs ``task_key`` and one task type; compute is
  ``existing_cluster_id`` (must exist), ``new_cluster`` (``policy_id`` must exist and the spec must
  satisfy the policy: 400 ``INVALID_PARAMETER_VALUE`` "Validation failed for ...") or none
  (serverless, when the workspace has it: else 400);
* a notebook task whose notebook does not exist ends ``INTERNAL_ERROR`` / ``FAILED``;
* ``runs/get-output`` takes a *task* run id: the run id of a run with tasks answers 400
  "Retrieving the output of runs with multiple tasks is not supported...";
* an ``idempotency_token`` (at most 64 characters) seen before returns the run it started,
  without starting another;
* ``runs/cancel`` is asynchronous: ``TERMINATING`` for ``delay_s``, then ``TERMINATED`` /
  ``CANCELED``; cancelling an ended run changes nothing.
"""

from __future__ import annotations

import ast
import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .databricks_workspace import WorkspaceError

TERMINAL = frozenset({"TERMINATED", "INTERNAL_ERROR", "SKIPPED"})
MULTI_TASK_OUTPUT = ("Retrieving the output of runs with multiple tasks is not supported. "
                     "Please retrieve the output of each individual task run instead.")
TASK_TYPES = ("notebook_task", "spark_python_task", "python_wheel_task", "sql_task", "spark_jar_task",
              "run_job_task", "pipeline_task", "dbt_task", "condition_task", "for_each_task")
# result_state -> the 2.2 status' termination details (code, type)
_TERMINATION = {"SUCCESS": ("SUCCESS", "SUCCESS"), "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
                "TIMEDOUT": ("TIMED_OUT", "CLIENT_ERROR"), "CANCELED": ("CANCELED", "SUCCESS"),
                "INTERNAL_ERROR": ("INTERNAL_ERROR", "INTERNAL_ERROR")}


@dataclass(frozen=True)
class RunScript:
    """What a run of a notebook or job does: how long it runs, how it ends, what it returns."""

    duration_s: float | None = None  # None: the state's default_run_s
    result_state: str = "SUCCESS"  # SUCCESS | FAILED | TIMEDOUT ...
    state_message: str = ""
    output: str | None = None  # the dbutils.notebook.exit() value
    error: str | None = None  # get-output's error (a failed notebook's exception)
    error_trace: str | None = None


def notebook_exit_value(source: bytes) -> str | None:
    """The string literal passed to the last ``dbutils.notebook.exit(...)`` of a Python notebook."""
    try:
        tree = ast.parse(source.decode("utf-8", "replace"))
    except SyntaxError:
        return None
    found: str | None = None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exit"
                and ast.unparse(node.func.value) == "dbutils.notebook" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found = node.args[0].value
    return found


@dataclass
class _Task:
    run_id: int
    task_key: str
    spec: dict[str, Any]
    script: RunScript
    missing: str | None = None  # why the task cannot run (notebook not found)


@dataclass
class _Run:
    run_id: int
    run_type: str  # JOB_RUN | SUBMIT_RUN
    run_name: str
    job_id: int
    number_in_job: int
    started: float  # monotonic
    start_ms: int
    tasks: list[_Task]
    job_parameters: list[dict[str, Any]] = field(default_factory=list)
    cancelled_at: float | None = None
    end_ms: int = 0


class RunsState:
    """Job and one-time runs. ``monotonic`` drives their progress, ``clock_ms`` their timestamps."""

    def __init__(self, *, delay_s: float, monotonic: Callable[[], float], clock_ms: Callable[[], int],
                 notebook_source: Callable[[str], bytes | None], cluster_exists: Callable[[str], bool],
                 host: Callable[[], str], default_run_s: float = 0.2, serverless: bool = True) -> None:
        self.delay_s, self.default_run_s, self.serverless = delay_s, default_run_s, serverless
        self._monotonic, self._clock_ms = monotonic, clock_ms
        self._notebook_source, self._cluster_exists, self._host = notebook_source, cluster_exists, host
        self._lock = threading.RLock()
        self._runs: dict[int, _Run] = {}
        self._task_parent: dict[int, int] = {}
        self._ids = itertools.count(50_000_001)
        self._per_job: dict[int, int] = {}
        self.scripts: dict[str, RunScript] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.cancelled: list[int] = []  # run ids a runs/cancel was accepted for (tests assert on it)
        self.submitted: list[dict[str, Any]] = []  # request bodies of run-now / runs/submit
        self._tokens: dict[str, int] = {}  # idempotency_token -> the run it started

    # -- scripting -------------------------------------------------------------------------------
    def script(self, key: str, script: RunScript) -> None:
        """Script the runs of a notebook (its workspace path) or a job (``job:<name>``)."""
        with self._lock:
            self.scripts[key] = script

    def add_policy(self, policy_id: str, name: str, definition: dict[str, Any]) -> None:
        """A cluster policy: ``{field: {"type": fixed|allowlist|range, ...}}`` as the Policies API."""
        with self._lock:
            self.policies[policy_id] = {"policy_id": policy_id, "name": name, "definition": definition}

    def _script_for(self, key: str, notebook: str | None) -> RunScript:
        if key in self.scripts:
            return self.scripts[key]
        output = None
        if notebook is not None:
            source = self._notebook_source(notebook)
            output = notebook_exit_value(source) if source is not None else None
        return RunScript(output=output)

    # -- starting runs ----------------------------------------------------------------------------
    def run_now(self, job: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        settings = job["settings"]
        params = body.get("job_parameters") or {}
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "job_parameters must be a map of strings")
        declared = {p.get("name"): p.get("default") for p in settings.get("parameters") or []}
        unknown = sorted(set(params) - set(declared))
        if declared and unknown:
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                 f"Job parameter(s) {', '.join(unknown)} are not defined in job {job['job_id']}")
        job_key = f"job:{settings.get('name')}"
        with self._lock:
            again = self._again(body)
            if again is not None:
                return {"run_id": again.run_id, "number_in_job": again.number_in_job}
            self.submitted.append(copy.deepcopy(body))
            tasks = [self._task(t, job_key) for t in settings.get("tasks") or []]
            number = self._per_job[job["job_id"]] = self._per_job.get(job["job_id"], 0) + 1
            run = self._start("JOB_RUN", str(settings.get("name") or ""), job["job_id"], number, tasks)
            run.job_parameters = [{"name": k, "default": v, "value": params.get(k, v)} for k, v in declared.items()]
            self._remember(body, run)
            return {"run_id": run.run_id, "number_in_job": number}

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        tasks = body.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "At least one task is required.")
        keys = [t.get("task_key") if isinstance(t, dict) else None for t in tasks]
        if not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "Every task needs a unique task_key.")
        with self._lock:
            again = self._again(body)
            if again is not None:
                return {"run_id": again.run_id}
            for t in tasks:
                self._check_compute(t)
            self.submitted.append(copy.deepcopy(body))
            run_id = next(self._ids)
            made = [self._task(t, None) for t in tasks]
            run = self._start("SUBMIT_RUN", str(body.get("run_name") or "Untitled"), run_id, 1, made, run_id)
            self._remember(body, run)
            return {"run_id": run.run_id}

    def _again(self, body: dict[str, Any]) -> _Run | None:
        token = body.get("idempotency_token")
        if token is None:
            return None
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", "idempotency_token must be 1 to 64 characters")
        known = self._tokens.get(token)
        return self._runs[known] if known is not None else None

    def _remember(self, body: dict[str, Any], run: _Run) -> None:
        if isinstance(body.get("idempotency_token"), str):
            self._tokens[body["idempotency_token"]] = run.run_id

    def _check_compute(self, task: dict[str, Any]) -> None:
        if not any(isinstance(task.get(k), dict) for k in TASK_TYPES):
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                 f"Task {task.get('task_key')} must specify exactly one task type.")
        if task.get("existing_cluster_id"):
            if not self._cluster_exists(str(task["existing_cluster_id"])):
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                     f"Cluster {task['existing_cluster_id']} does not exist")
        elif isinstance(task.get("new_cluster"), dict):
            self._check_policy(task["new_cluster"])
        elif not self.serverless:
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Task {task.get('task_key')}: serverless "
                                 "compute is not enabled in this workspace; specify a cluster.")

    def _check_policy(self, spec: dict[str, Any]) -> None:
        policy_id = spec.get("policy_id")
        if policy_id is None:
            return
        policy = self.policies.get(str(policy_id))
        if policy is None:
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Cluster policy {policy_id} does not exist.")
        for name, rule in policy["definition"].items():
            value = spec.get(name)
            kind = rule.get("type")
            if value is None:
                if kind == "fixed" or spec.get("apply_policy_default_values"):
                    spec[name] = rule.get("value", rule.get("defaultValue"))
                continue
            if kind == "fixed" and value != rule.get("value"):
                bad = f"the value must be {rule.get('value')!r} (is {value!r})"
            elif kind == "allowlist" and value not in rule.get("values", []):
                bad = f"the value must be one of {rule.get('values')} (is {value!r})"
            elif kind == "range" and isinstance(value, int | float) and not (
                    rule.get("minValue", value) <= value <= rule.get("maxValue", value)):
                bad = f"the value must be between {rule.get('minValue')} and {rule.get('maxValue')} (is {value})"
            else:
                continue
            raise WorkspaceError(400, "INVALID_PARAMETER_VALUE",
                                 f"Validation failed for {name} against policy {policy['name']}: {bad}")

    def _task(self, spec: dict[str, Any], job_key: str | None) -> _Task:
        notebook = (spec.get("notebook_task") or {}).get("notebook_path")
        key = next((k for k in (job_key, notebook) if k is not None and k in self.scripts), None)
        script = self.scripts[key] if key is not None else self._script_for("", notebook)
        missing = None
        if key is None and notebook is not None and self._notebook_source(notebook) is None:
            missing = (f'Unable to access the notebook "{notebook}". Either it does not exist, or the identity '
                       "used to run this job lacks the required permissions.")
        return _Task(next(self._ids), str(spec.get("task_key")), copy.deepcopy(spec), script, missing)

    def _start(self, run_type: str, name: str, job_id: int, number: int, tasks: list[_Task],
               run_id: int | None = None) -> _Run:
        run = _Run(run_id or next(self._ids), run_type, name, job_id, number, self._monotonic(),
                   self._clock_ms(), tasks)
        self._runs[run.run_id] = run
        for t in tasks:
            self._task_parent[t.run_id] = run.run_id
        return run

    # -- state ------------------------------------------------------------------------------------
    def _duration(self, task: _Task) -> float:
        return self.default_run_s if task.script.duration_s is None else task.script.duration_s

    def _task_state(self, run: _Run, task: _Task) -> tuple[str, str | None, str]:
        """(life_cycle_state, result_state, state_message) of a task now."""
        now = self._monotonic()
        if task.missing is not None:
            if now - run.started < min(self.delay_s, self._duration(task)):
                return "PENDING", None, ""
            return "INTERNAL_ERROR", "FAILED", task.missing
        ends = run.started + self._duration(task)
        if run.cancelled_at is not None and run.cancelled_at < ends:
            if now < run.cancelled_at + self.delay_s:
                return "TERMINATING", None, "Run cancellation requested."
            return "TERMINATED", "CANCELED", "Run cancelled."
        if now < ends:
            return "RUNNING", None, "In run"
        return "TERMINATED", task.script.result_state, task.script.state_message

    def _run_state(self, run: _Run) -> tuple[str, str | None, str]:
        states = [self._task_state(run, t) for t in run.tasks] or [("TERMINATED", "SUCCESS", "")]
        for life in ("PENDING", "RUNNING", "TERMINATING"):
            if any(s[0] == life for s in states):
                return life, None, next(s[2] for s in states if s[0] == life)
        failed = next((s for s in states if s[1] != "SUCCESS"), None)
        return failed or states[0]

    def _state_json(self, life: str, result: str | None, message: str, cancelled: bool) -> dict[str, Any]:
        state: dict[str, Any] = {"life_cycle_state": life, "state_message": message,
                                 "user_cancelled_or_timedout": cancelled}
        if result is not None:
            state["result_state"] = result
        status: dict[str, Any] = {"state": "TERMINATED" if life in TERMINAL else life}
        if life in TERMINAL:
            code, kind = _TERMINATION.get(result or "", ("INTERNAL_ERROR", "INTERNAL_ERROR"))
            if life == "INTERNAL_ERROR":
                code, kind = "RESOURCE_NOT_FOUND", "CLIENT_ERROR"
            status["termination_details"] = {"code": code, "type": kind, "message": message}
        return {"state": state, "status": status}

    def _url(self, run: _Run, run_id: int) -> str:
        return f"{self._host()}/?o=1234567890123456#job/{run.job_id}/run/{run_id}"

    def _times(self, run: _Run, life: str, seconds: float) -> dict[str, Any]:
        ended = life in TERMINAL
        if ended and not run.end_ms:
            run.end_ms = run.start_ms + int(seconds * 1000)
        end = run.end_ms if ended else 0
        return {"start_time": run.start_ms, "end_time": end, "setup_duration": 0, "cleanup_duration": 0,
                "execution_duration": (end - run.start_ms) if ended else 0,
                "run_duration": (end - run.start_ms) if ended else 0}

    def _elapsed(self, run: _Run) -> float:
        return min(self._monotonic() - run.started, max([self._duration(t) for t in run.tasks] or [0.0]))

    def get(self, run_id: Any) -> dict[str, Any]:
        with self._lock:
            run_id = _int(run_id)
            if run_id in self._task_parent:
                run = self._runs[self._task_parent[run_id]]
                return self._task_json(run, next(t for t in run.tasks if t.run_id == run_id), with_parent=True)
            run = self._runs.get(run_id)
            if run is None:
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
            life, result, message = self._run_state(run)
            out: dict[str, Any] = {
                "job_id": run.job_id, "run_id": run.run_id, "number_in_job": run.number_in_job,
                "original_attempt_run_id": run.run_id, "creator_user_name": "dataops@example.com",
                "run_name": run.run_name, "run_type": run.run_type, "format": "MULTI_TASK",
                "run_page_url": self._url(run, run.run_id), "attempt_number": 0,
                **self._state_json(life, result, message, run.cancelled_at is not None),
                **self._times(run, life, self._elapsed(run)),
                "tasks": [self._task_json(run, t) for t in run.tasks]}
            if run.job_parameters:
                out["job_parameters"] = copy.deepcopy(run.job_parameters)
            return out

    def _task_json(self, run: _Run, task: _Task, with_parent: bool = False) -> dict[str, Any]:
        life, result, message = self._task_state(run, task)
        out = {k: v for k, v in task.spec.items() if k not in ("task_key",)}
        out.update({"run_id": task.run_id, "task_key": task.task_key, "attempt_number": 0,
                    "run_page_url": self._url(run, task.run_id),
                    **self._state_json(life, result, message, run.cancelled_at is not None),
                    **self._times(run, life, min(self._monotonic() - run.started, self._duration(task)))})
        if with_parent:
            out.update({"job_id": run.job_id, "run_name": run.run_name, "run_type": run.run_type,
                        "job_run_id": run.run_id})
        return out

    def output(self, run_id: Any) -> dict[str, Any]:
        with self._lock:
            run_id = _int(run_id)
            if run_id in self._runs:
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", MULTI_TASK_OUTPUT)
            if run_id not in self._task_parent:
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
            run = self._runs[self._task_parent[run_id]]
            task = next(t for t in run.tasks if t.run_id == run_id)
            metadata = self._task_json(run, task, with_parent=True)
            out: dict[str, Any] = {"metadata": metadata}
            life, result, _ = self._task_state(run, task)
            if life not in TERMINAL:
                return out
            if "notebook_task" in task.spec and result == "SUCCESS":
                out["notebook_output"] = ({"result": task.script.output[:5 * 1024 * 1024],
                                           "truncated": len(task.script.output) > 5 * 1024 * 1024}
                                          if task.script.output is not None else {})
            if result not in ("SUCCESS", "CANCELED"):
                out["error"] = task.missing or task.script.error or task.script.state_message or "Run failed"
                if task.script.error_trace:
                    out["error_trace"] = task.script.error_trace
            return out

    def cancel(self, run_id: Any) -> None:
        with self._lock:
            run_id = _int(run_id)
            run = self._runs.get(run_id) or self._runs.get(self._task_parent.get(run_id, -1))
            if run is None:
                raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
            self.cancelled.append(run_id)
            if run.cancelled_at is None and self._run_state(run)[0] not in TERMINAL:
                run.cancelled_at = self._monotonic()

    def state_of(self, run_id: int) -> tuple[str, str | None]:
        """(life_cycle_state, result_state) of a run (tests)."""
        with self._lock:
            life, result, _ = self._run_state(self._runs[run_id])
            return life, result


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise WorkspaceError(400, "INVALID_PARAMETER_VALUE", f"Invalid run_id: {value!r}") from None
