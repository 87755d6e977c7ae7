"""Pipeline runs of the Data Factory stand-in: ``createRun``, ``pipelineruns/{runId}`` get and
``cancel``, ``queryActivityruns`` (pure state; routes in :mod:`devhost.standins.arm`).

A run is ``Queued`` for a moment, ``InProgress`` for its scripted duration, then ends as its
:class:`PipelineScript` says (``Succeeded`` by default, or ``Failed`` with the failing activity);
``cancel`` makes it ``Canceling`` for ``cancel_s``, then ``Cancelled``. Time moves lazily. Each
activity of the pipeline definition becomes an activity run; with a failing activity the ones
after it (in definition order) are not run, as ADF's default dependency conditions (Succeeded) do.

Rules reproduced from the Data Factory REST API (2018-06-01):

* ``createRun`` of a pipeline that does not exist: 404 ``NotFound`` "Entity {name} not found";
* a pipeline parameter without ``defaultValue`` that the body does not give: 400 ``BadRequest``;
* an unknown run id: 404 ``PipelineRunNotFound``;
* ``queryActivityruns`` needs ``lastUpdatedAfter`` and ``lastUpdatedBefore`` (400 otherwise) and
  honours ``filters`` on ``Status`` / ``ActivityName`` / ``ActivityType`` (operators ``Equals``,
  ``NotEquals``, ``In``, ``NotIn``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .arm_state import AdfError

ENDED = frozenset({"Succeeded", "Failed", "Cancelled"})


@dataclass(frozen=True)
class PipelineScript:
    """What the runs of a pipeline do."""

    duration_s: float | None = None  # None: the default
    status: str = "Succeeded"  # Succeeded | Failed
    failed_activity: str | None = None  # default: the first activity
    error_code: str = "2200"
    message: str = "Failure happened on 'Sink' side. ErrorCode=UserErrorInvalidTable"


@dataclass
class _PipelineRun:
    run_id: str
    factory_id: str
    pipeline: str
    parameters: dict[str, Any]
    activities: list[dict[str, Any]]
    script: PipelineScript
    started: float
    start_at: datetime
    cancelled_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


class PipelineRuns:
    """Every pipeline run the stand-in started. ``clock`` is monotonic seconds (the store's)."""

    def __init__(self, *, clock: Callable[[], float], run_s: float = 0.2, queued_s: float = 0.02,
                 cancel_s: float = 0.1) -> None:
        self.clock, self.run_s, self.queued_s, self.cancel_s = clock, run_s, queued_s, cancel_s
        self.runs: dict[str, _PipelineRun] = {}
        self.scripts: dict[str, PipelineScript] = {}  # lower-case pipeline name -> script
        self.cancelled: list[str] = []  # run ids a cancel was accepted for (tests assert on it)

    def _wall(self, mono: float, run: _PipelineRun) -> datetime:
        return run.start_at + timedelta(seconds=mono - run.started)

    def create(self, factory_id: str, pipeline: str, properties: dict[str, Any], body: Any) -> str:
        params = body if isinstance(body, dict) else {}
        declared = properties.get("parameters") or {}
        for name, spec in declared.items():
            if name not in params and not (isinstance(spec, dict) and "defaultValue" in spec):
                raise AdfError(400, "BadRequest", f"The required Pipeline parameter '{name}' is not provided "
                               f"for pipeline '{pipeline}'.", target=f"pipeline/{pipeline}/runid/")
        values = {n: (s.get("defaultValue") if isinstance(s, dict) else None) for n, s in declared.items()}
        values.update(params)
        run = _PipelineRun(str(uuid.uuid4()), factory_id, pipeline, values,
                           [a for a in properties.get("activities") or [] if isinstance(a, dict)],
                           self.scripts.get(pipeline.lower(), PipelineScript()), self.clock(),
                           datetime.now(UTC))
        self.runs[run.run_id] = run
        return run.run_id

    def _run(self, factory_id: str, run_id: str) -> _PipelineRun:
        run = self.runs.get(run_id)
        if run is None or run.factory_id.lower() != factory_id.lower():
            raise AdfError(404, "PipelineRunNotFound", f"Pipeline run {run_id} not found.")
        return run

    def _ends(self, run: _PipelineRun) -> float:
        return run.started + self.queued_s + (self.run_s if run.script.duration_s is None else run.script.duration_s)

    def _status(self, run: _PipelineRun) -> tuple[str, float | None]:
        """(status, monotonic end time when ended)."""
        now, ends = self.clock(), self._ends(run)
        if run.cancelled_at is not None and run.cancelled_at < ends:
            done = run.cancelled_at + self.cancel_s
            return ("Cancelled", done) if now >= done else ("Canceling", None)
        if now < run.started + self.queued_s:
            return "Queued", None
        if now < ends:
            return "InProgress", None
        return run.script.status, ends

    def get(self, factory_id: str, run_id: str) -> dict[str, Any]:
        run = self._run(factory_id, run_id)
        status, ended = self._status(run)
        out: dict[str, Any] = {
            "id": f"{factory_id}/pipelineruns/{run.run_id}", "runId": run.run_id, "runGroupId": run.run_id,
            "isLatest": True, "pipelineName": run.pipeline, "parameters": {k: str(v) for k, v in run.parameters.items()},
            "invokedBy": {"id": uuid.uuid4().hex, "name": "Manual", "invokedByType": "Manual"},
            "runStart": _iso(run.start_at), "status": status, "message": "", "annotations": [],
            "runDimension": {}, "lastUpdated": _iso(self._wall(ended if ended is not None else self.clock(), run))}
        if ended is not None:
            out["runEnd"] = _iso(self._wall(ended, run))
            out["durationInMs"] = int((ended - run.started) * 1000)
            if status == "Failed":
                act = self._failing(run)
                out["message"] = (f"Operation on target {act} failed: {run.script.message}" if act
                                  else run.script.message)
        return out

    def cancel(self, factory_id: str, run_id: str) -> None:
        run = self._run(factory_id, run_id)
        self.cancelled.append(run_id)
        if run.cancelled_at is None and self._status(run)[0] not in ENDED:
            run.cancelled_at = self.clock()

    def _failing(self, run: _PipelineRun) -> str | None:
        names = [str(a.get("name")) for a in run.activities]
        if run.script.status != "Failed":
            return None
        if run.script.failed_activity:
            return run.script.failed_activity
        return names[0] if names else None

    def activity_runs(self, factory_id: str, run_id: str, body: Any) -> dict[str, Any]:
        run = self._run(factory_id, run_id)
        if not isinstance(body, dict) or not body.get("lastUpdatedAfter") or not body.get("lastUpdatedBefore"):
            raise AdfError(400, "BadRequest", "lastUpdatedAfter and lastUpdatedBefore are required.")
        status, ended = self._status(run)
        failing = self._failing(run)
        out: list[dict[str, Any]] = []
        reached_failure = False
        for act in run.activities:
            name = str(act.get("name"))
            if reached_failure:
                break  # not run: its dependency (Succeeded) did not hold
            if status in ("Queued",):
                break
            if ended is None or status == "Cancelled":
                act_status = "InProgress" if ended is None else "Cancelled"
            elif name == failing:
                act_status, reached_failure = "Failed", True
            else:
                act_status = "Succeeded"
            row: dict[str, Any] = {
                "pipelineName": run.pipeline, "pipelineRunId": run.run_id, "activityName": name,
                "activityType": act.get("type"), "activityRunId": str(uuid.uuid5(uuid.NAMESPACE_URL, run.run_id + name)),
                "linkedServiceName": "", "status": act_status, "activityRunStart": _iso(run.start_at),
                "input": act.get("typeProperties") or {}, "output": {}, "retryAttempt": None,
                "error": {"errorCode": "", "message": "", "failureType": "", "target": name}}
            if act_status == "Failed":
                row["error"] = {"errorCode": run.script.error_code, "message": run.script.message,
                                "failureType": "UserError", "target": name}
            if ended is not None:
                row["activityRunEnd"] = _iso(self._wall(ended, run))
                row["durationInMs"] = int((ended - run.started) * 1000)
            out.append(row)
        out = [r for r in out if _matches(r, body.get("filters") or [])]
        return {"value": out}


_OPERANDS = {"status": "status", "activityname": "activityName", "activitytype": "activityType"}


def _matches(row: dict[str, Any], filters: list[Any]) -> bool:
    for f in filters:
        if not isinstance(f, dict):
            raise AdfError(400, "BadRequest", "Invalid filter.")
        key = _OPERANDS.get(str(f.get("operand", "")).lower())
        if key is None:
            raise AdfError(400, "BadRequest", f"Unsupported filter operand {f.get('operand')!r}.")
        values = [str(v) for v in f.get("values") or []]
        value = str(row.get(key))
        op = str(f.get("operator", "")).lower()
        hit = value in values
        if (op in ("equals", "in") and not hit) or (op in ("notequals", "notin") and hit):
            return False
    return True


__all__ = ["PipelineRuns", "PipelineScript"]
