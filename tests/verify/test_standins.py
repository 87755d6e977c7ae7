"""The run APIs of the stand-ins as the official SDKs see them (shapes and errors of the real APIs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from databricks.sdk.errors import DatabricksError, InvalidParameterValue
from databricks.sdk.service.jobs import NotebookTask, RunLifeCycleState, RunResultState, SubmitTask

from .conftest import TARGET_DIR, Platform, wait_until

NB = f"{TARGET_DIR}/checks/nb"


def test_jobs_runs_through_databricks_sdk(platform: Platform) -> None:
    dbx = platform.dbx
    dbx.seed_notebook(NB, 'dbutils.notebook.exit("done")')
    w = dbx.client()
    run_id = w.jobs.submit(run_name="t", tasks=[SubmitTask(task_key="a", notebook_task=NotebookTask(NB))]).run_id
    run = w.jobs.wait_get_run_job_terminated_or_skipped(run_id=run_id, timeout=timedelta(seconds=10))
    assert run.state.life_cycle_state == RunLifeCycleState.TERMINATED
    assert run.state.result_state == RunResultState.SUCCESS and run.run_page_url.endswith(f"/run/{run_id}")
    assert run.start_time and run.end_time >= run.start_time and len(run.tasks) == 1
    with pytest.raises(InvalidParameterValue, match="multiple tasks is not supported"):
        w.jobs.get_run_output(run_id)  # the parent run: the real API refuses it even for one task
    out = w.jobs.get_run_output(run.tasks[0].run_id)
    assert out.notebook_output.result == "done" and out.metadata.job_run_id == run_id
    with pytest.raises(InvalidParameterValue, match="Job 424242 does not exist"):
        w.jobs.run_now(job_id=424242)
    with pytest.raises(DatabricksError, match="Run 7 does not exist"):  # the SDK maps it to NotFound
        w.jobs.get_run(7)
    # A cancel is asynchronous: TERMINATING, then TERMINATED / CANCELED; cancelling again changes nothing.
    dbx.script_run(NB, duration_s=30)
    run_id = w.jobs.submit(run_name="t2", tasks=[SubmitTask(task_key="a", notebook_task=NotebookTask(NB))]).run_id
    w.jobs.cancel_run(run_id)
    assert w.jobs.get_run(run_id).state.life_cycle_state == RunLifeCycleState.TERMINATING
    assert wait_until(lambda: w.jobs.get_run(run_id).state.result_state == RunResultState.CANCELED)
    w.jobs.cancel_run(run_id)
    assert w.jobs.get_run(run_id).state.user_cancelled_or_timedout is True
    with pytest.raises(InvalidParameterValue, match="exactly one task type"):
        w.jobs.submit(run_name="t3", tasks=[SubmitTask(task_key="a")])


def test_pipeline_runs_through_datafactory_sdk(platform: Platform) -> None:
    arm, f = platform.arm, platform.factory
    rg = arm.resource_group
    arm.put_object(f, "pipelines", "pl", {"activities": [
        {"name": "A", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}},
        {"name": "B", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]})
    arm.script_pipeline("pl", status="Failed", failed_activity="A", message="bad rows")
    df = arm.factory_client(f)
    run_id = df.pipelines.create_run(rg, f, "pl").run_id
    assert df.pipeline_runs.get(rg, f, run_id).status in ("Queued", "InProgress")
    run = wait_until(lambda: (r := df.pipeline_runs.get(rg, f, run_id)).status == "Failed" and r)
    assert run.message == "Operation on target A failed: bad rows" and run.duration_in_ms >= 0
    now = datetime.now(UTC)
    window = {"lastUpdatedAfter": (now - timedelta(hours=1)).isoformat(),
              "lastUpdatedBefore": (now + timedelta(hours=1)).isoformat()}
    acts = df.activity_runs.query_by_pipeline_run(rg, f, run_id, window).value
    assert [(a.activity_name, a.status) for a in acts] == [("A", "Failed")]  # B never ran
    assert acts[0].error["errorCode"] == "2200"
    with pytest.raises(HttpResponseError, match="lastUpdatedAfter"):
        df.activity_runs.query_by_pipeline_run(rg, f, run_id, {"filters": []})
    with pytest.raises(ResourceNotFoundError):
        df.pipelines.create_run(rg, f, "missing")
    with pytest.raises(ResourceNotFoundError):
        df.pipeline_runs.get(rg, f, "00000000-0000-0000-0000-000000000000")
