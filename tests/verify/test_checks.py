"""Each kind of check passing, failing, timing out and unable to start, against the stand-ins
through the official SDKs over real HTTP(S)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from shared.verify.runner import Verifier

from .conftest import TARGET_DIR, Platform, wait_until

SMOKE = f"{TARGET_DIR}/verify/smoke"
PIPELINE = {"activities": [{"name": "Check rows", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}},
                           {"name": "Publish", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}],
            "parameters": {"day": {"type": "String"}, "mode": {"type": "String", "defaultValue": "smoke"}}}


def run(platform: Platform, verifier: Verifier, checks: list[dict[str, Any]], **extra: Any) -> Any:
    config = platform.config(checks, **extra)
    return verifier.run(config, "test", "notebooks", platform.settings(), run_name=f"dataops verify {uuid.uuid4()}")


def one(platform: Platform, verifier: Verifier, check: dict[str, Any]) -> Any:
    v = run(platform, verifier, [{"name": "c", "on": ["notebooks"], **check}])
    assert len(v.results) == 1
    return v.results[0]


# ------------------------------------------------------------------ Databricks notebook (runs/submit)
def test_notebook_passes_with_its_exit_value_and_base_parameters(platform: Platform, verifier: Verifier) -> None:
    platform.dbx.seed_notebook(SMOKE, 'dbutils.notebook.exit("42 rows")')
    r = one(platform, verifier, {"notebook": "verify/smoke", "parameters": {"day": "2026-12-01", "n": 3}})
    assert r.state == "passed" and r.run_state == "SUCCESS" and r.output == "42 rows"
    assert r.run_id and r.run_url and f"/run/{r.run_id}" in r.run_url
    body = platform.dbx.runs.submitted[-1]
    task = body["tasks"][0]
    assert task["notebook_task"]["notebook_path"] == SMOKE
    assert task["notebook_task"]["base_parameters"] == {"day": "2026-12-01", "n": "3"}
    assert "existing_cluster_id" not in task and "new_cluster" not in task  # serverless
    assert platform.dbx.counters.count("jobs.runs.get-output") == 1


def test_notebook_failure_carries_the_error(platform: Platform, verifier: Verifier) -> None:
    platform.dbx.seed_notebook(SMOKE, "raise ValueError('no rows')")
    platform.dbx.script_run(SMOKE, result_state="FAILED", error="ValueError: no rows",
                            state_message="Workload failed")
    r = one(platform, verifier, {"notebook": "verify/smoke"})
    assert r.state == "failed" and r.run_state == "FAILED"
    assert "ValueError: no rows" in r.error


def test_notebook_timeout_cancels_the_run(platform: Platform, verifier: Verifier) -> None:
    platform.dbx.seed_notebook(SMOKE, "print(1)")
    platform.dbx.script_run(SMOKE, duration_s=60)
    r = one(platform, verifier, {"notebook": "verify/smoke", "timeout": 0.3})
    assert r.state == "timed_out" and r.cancelled == [r.run_id]
    assert platform.dbx.runs.cancelled == [int(r.run_id)]  # the stand-in saw the cancel
    assert wait_until(lambda: platform.dbx.runs.state_of(int(r.run_id)) == ("TERMINATED", "CANCELED"))
    assert 0.3 <= r.duration_s < 5


def test_missing_notebook_fails_with_the_reason(platform: Platform, verifier: Verifier) -> None:
    r = one(platform, verifier, {"notebook": "verify/nope"})
    assert r.state == "failed" and "Unable to access the notebook" in r.error


def test_named_cluster_and_cluster_policy(platform: Platform, verifier: Verifier) -> None:
    platform.dbx.seed_notebook(SMOKE, "print(1)")
    cid = platform.dbx.add_cluster("verify-cluster")
    r = one(platform, verifier, {"notebook": "verify/smoke", "cluster": "verify-cluster"})
    assert r.state == "passed" and platform.dbx.runs.submitted[-1]["tasks"][0]["existing_cluster_id"] == cid
    r = one(platform, verifier, {"notebook": "verify/smoke", "cluster": "no-such-cluster"})
    assert r.state == "not_started" and "no Databricks cluster named 'no-such-cluster'" in r.error
    platform.dbx.add_policy("P1", "small", {"num_workers": {"type": "range", "maxValue": 2},
                                            "spark_version": {"type": "fixed", "value": "15.4.x-scala2.12"}})
    r = one(platform, verifier, {"notebook": "verify/smoke", "cluster_policy_id": "P1",
                                 "new_cluster": {"num_workers": 1, "node_type_id": "Standard_DS3_v2"}})
    assert r.state == "passed"
    assert platform.dbx.runs.submitted[-1]["tasks"][0]["new_cluster"]["policy_id"] == "P1"
    r = one(platform, verifier, {"notebook": "verify/smoke", "cluster_policy_id": "P1",
                                 "new_cluster": {"num_workers": 8}})
    assert r.state == "not_started" and "Validation failed for num_workers" in r.error and r.run_id is None
    r = one(platform, verifier, {"notebook": "verify/smoke", "cluster_policy_id": "P9"})
    assert r.state == "not_started" and "Cluster policy P9 does not exist" in r.error


# ------------------------------------------------------------------ Databricks job (run-now)
def test_job_by_name_passes_with_parameters(platform: Platform, verifier: Verifier) -> None:
    jid = platform.dbx.add_job("nightly-smoke", pause_status=None,
                               parameters=[{"name": "env", "default": "dev"}])
    platform.dbx.script_run("job:nightly-smoke", output="ok")
    r = one(platform, verifier, {"job": "nightly-smoke", "parameters": {"env": "test"}})
    assert r.state == "passed" and r.output == "ok"
    sent = platform.dbx.runs.submitted[-1]
    assert sent["job_id"] == jid and sent["job_parameters"] == {"env": "test"} and len(sent["idempotency_token"]) == 64
    r = one(platform, verifier, {"job_id": jid})
    assert r.state == "passed"


def test_job_failure_and_timeout(platform: Platform, verifier: Verifier) -> None:
    jid = platform.dbx.add_job("etl-check", pause_status=None)
    platform.dbx.script_run("job:etl-check", result_state="FAILED", error="AnalysisException: table missing")
    r = one(platform, verifier, {"job": "etl-check"})
    assert r.state == "failed" and "AnalysisException: table missing" in r.error
    platform.dbx.script_run("job:etl-check", duration_s=60)
    r = one(platform, verifier, {"job_id": jid, "timeout": 0.3})
    assert r.state == "timed_out" and platform.dbx.runs.cancelled == [int(r.run_id)]
    assert wait_until(lambda: platform.dbx.runs.state_of(int(r.run_id)) == ("TERMINATED", "CANCELED"))


def test_job_that_does_not_exist_cannot_start(platform: Platform, verifier: Verifier) -> None:
    r = one(platform, verifier, {"job": "nope"})
    assert r.state == "not_started" and r.error == "cannot start: no Databricks job named 'nope'"
    r = one(platform, verifier, {"job_id": 999999})
    assert r.state == "not_started" and "Job 999999 does not exist." in r.error


# ------------------------------------------------------------------ ADF pipeline run
def test_pipeline_passes_with_parameters(platform: Platform, verifier: Verifier) -> None:
    platform.arm.put_object(platform.factory, "pipelines", "pl_smoke", PIPELINE)
    r = one(platform, verifier, {"pipeline": "pl_smoke", "parameters": {"day": "2026-12-01"}})
    assert r.state == "passed" and r.run_state == "Succeeded"
    assert r.run_url.startswith("https://adf.azure.com/en/monitoring/pipelineruns/" + r.run_id)
    run = platform.arm.pipeline_runs.runs[r.run_id]
    assert run.parameters == {"day": "2026-12-01", "mode": "smoke"}


def test_pipeline_failure_lists_the_failed_activity(platform: Platform, verifier: Verifier) -> None:
    platform.arm.put_object(platform.factory, "pipelines", "pl_smoke", PIPELINE)
    platform.arm.script_pipeline("pl_smoke", status="Failed", failed_activity="Check rows",
                                 message="0 rows in sales.orders")
    r = one(platform, verifier, {"pipeline": "pl_smoke", "parameters": {"day": "x"}})
    assert r.state == "failed" and r.run_state == "Failed"
    assert r.failed_activities == [{"activity": "Check rows", "type": "Wait", "error_code": "2200",
                                    "message": "0 rows in sales.orders"}]
    assert "activity Check rows failed: 0 rows in sales.orders" in r.error


def test_pipeline_timeout_cancels_the_run(platform: Platform, verifier: Verifier) -> None:
    platform.arm.put_object(platform.factory, "pipelines", "pl_smoke", PIPELINE)
    platform.arm.script_pipeline("pl_smoke", duration_s=60)
    r = one(platform, verifier, {"pipeline": "pl_smoke", "parameters": {"day": "x"}, "timeout": 0.3})
    assert r.state == "timed_out" and platform.arm.pipeline_runs.cancelled == [r.run_id]
    df = platform.arm.factory_client(platform.factory)
    assert wait_until(lambda: df.pipeline_runs.get(platform.arm.resource_group, platform.factory,
                                                   r.run_id).status == "Cancelled")


def test_pipeline_missing_or_refused_cannot_start(platform: Platform, verifier: Verifier) -> None:
    r = one(platform, verifier, {"pipeline": "pl_nope"})
    assert r.state == "not_started" and f"pipeline 'pl_nope' does not exist in factory {platform.factory}" in r.error
    platform.arm.put_object(platform.factory, "pipelines", "pl_smoke", PIPELINE)
    r = one(platform, verifier, {"pipeline": "pl_smoke"})  # 'day' has no default
    assert r.state == "not_started" and "required Pipeline parameter 'day'" in r.error


# ------------------------------------------------------------------ HTTP
def test_http_check_passes_fails_and_times_out(platform: Platform, verifier: Verifier) -> None:
    check = {"http": {"url_setting": "HEALTH_URL", "expect_status": 200}}
    r = one(platform, verifier, check)
    assert r.state == "passed" and r.run_state == "200"
    platform.http.status[0] = 503
    r = one(platform, verifier, check)
    assert r.state == "failed" and r.error == "answered 503, expected 200"
    assert "s3cr3t" not in json.dumps(r.to_json())  # the URL (and its key) is never recorded
    platform.http.status[0] = 200
    platform.http.server.faults.add("health", latency_s=2)
    r = one(platform, verifier, {**check, "timeout": 0.3})
    assert r.state == "timed_out" and r.duration_s < 1.9
    r = one(platform, verifier, {"http": {"url_setting": "UNSET_URL"}})
    assert r.state == "not_started" and "UNSET_URL" in r.error


# ------------------------------------------------------------------ selection and parallelism
def test_on_selects_checks_and_they_run_in_parallel(platform: Platform, verifier: Verifier) -> None:
    platform.dbx.seed_notebook(SMOKE, "print(1)")
    platform.dbx.script_run(SMOKE, duration_s=0.4)
    checks = [{"name": f"n{i}", "notebook": "verify/smoke", "on": ["notebooks"]} for i in range(3)]
    checks.append({"name": "adf-only", "pipeline": "pl_x", "on": ["adf"]})
    v = run(platform, verifier, checks)
    assert [r.name for r in v.results] == ["n0", "n1", "n2"] and v.passed
    assert max(r.duration_s for r in v.results) < 1.1  # three 0.4 s runs side by side, not one after another


def test_a_retried_start_returns_the_run_the_first_one_started(platform: Platform, verifier: Verifier) -> None:
    """The same idempotency token (one per deployment and check) never starts a second run."""
    platform.dbx.seed_notebook(SMOKE, 'dbutils.notebook.exit("once")')
    config = platform.config([{"name": "c", "notebook": "verify/smoke"}])
    first = verifier.run(config, "test", None, platform.settings(), run_name="dataops verify d-1").results[0]
    again = verifier.run(config, "test", None, platform.settings(), run_name="dataops verify d-1").results[0]
    other = verifier.run(config, "test", None, platform.settings(), run_name="dataops verify d-2").results[0]
    assert first.run_id == again.run_id != other.run_id
    assert len(platform.dbx.runs.submitted) == 2 and platform.dbx.counters.count("jobs.runs.submit") == 3


def test_job_output_is_read_as_data_quality_results(platform: Platform, verifier: Verifier) -> None:
    platform.dbx.add_job("dq-job", pause_status=None)
    results = [{"expectation": "dim_customer_unique", "passed": False, "observed": 4},
               {"expectation": "dim_customer_fresh", "passed": True}]
    platform.dbx.script_run("job:dq-job", output=json.dumps(results))
    r = one(platform, verifier, {"job": "dq-job"})
    assert r.run_state == "SUCCESS" and r.state == "failed"
    assert r.error == "1 of 2 data-quality expectations failed: dim_customer_unique"
    assert [e.expectation for e in r.failed_expectations] == ["dim_customer_unique"]
    r = one(platform, verifier, {"job": "dq-job", "data_quality": False})
    assert r.state == "passed" and r.expectations == []  # read as plain output
