"""Notebook deployment against the Databricks stand-in and Azurite, through databricks-sdk."""

from __future__ import annotations

import pytest

from devhost.standins.databricks import DatabricksStandIn
from devhost.standins.faults import RequestInfo
from shared.audit import AuditLedger
from shared.deploy.model import ApplyResult, DeployContext, Plan
from shared.errors import BadRequest
from shared.notebooks.deployer import NotebookDeployer

from .conftest import TARGET, ContextFactory, notebook

FILES = {
    "etl/ingest.py": notebook("print('ingest')\n"),
    "etl/transform.sql": notebook("SELECT 1\n", "SQL"),
    "etl/deep/job.scala": notebook("val x = 1\n", "SCALA"),
    "reports/My Report été.r": notebook("x <- 1\n", "R"),
    "lib/helpers.py": b"def helper():\n    return 1\n",  # no header: not a notebook
}


def deploy(ctx: DeployContext) -> tuple[Plan, ApplyResult]:
    """A fresh deployer each time: like a fresh worker with no local files."""
    d = NotebookDeployer()
    plan = d.plan(ctx)
    return plan, d.apply(ctx, plan)


def actions(plan: Plan) -> dict[str, str]:
    return {a.name: a.action for a in plan.actions if a.object_type == "notebook"}


def test_first_sync_creates_folders_once_and_every_notebook(make_ctx: ContextFactory,
                                                           databricks_standin: DatabricksStandIn) -> None:
    plan, result = deploy(make_ctx(FILES))
    assert result.status == "succeeded", result.error
    assert set(actions(plan).values()) == {"create"}
    s = databricks_standin
    assert s.object(f"{TARGET}/etl/ingest").language == "PYTHON"
    assert s.object(f"{TARGET}/etl/transform").language == "SQL"
    assert s.object(f"{TARGET}/etl/deep/job").language == "SCALA"
    assert s.object(f"{TARGET}/reports/My Report été").language == "R"
    assert b"print('ingest')" in s.read_source(f"{TARGET}/etl/ingest")
    assert not s.exists(f"{TARGET}/lib/helpers") and not s.exists(f"{TARGET}/lib")
    assert s.counters.count("workspace.import") == 4
    # folders: /Shared/dataops, etl, etl/deep, reports -- each created once
    assert s.counters.count("workspace.mkdirs") == 4


def test_update_uploads_only_what_changed_from_a_fresh_worker(make_ctx: ContextFactory,
                                                             databricks_standin: DatabricksStandIn) -> None:
    deploy(make_ctx(FILES))
    before = databricks_standin.counters.count("workspace.import")
    changed = {**FILES, "etl/ingest.py": notebook("print('ingest v2')\n")}
    plan, result = deploy(make_ctx(changed))
    assert result.status == "succeeded"
    assert actions(plan)[f"{TARGET}/etl/ingest"] == "update"
    assert sorted(a for a in actions(plan).values()) == ["unchanged", "unchanged", "unchanged", "update"]
    assert databricks_standin.counters.count("workspace.import") - before == 1
    assert b"ingest v2" in databricks_standin.read_source(f"{TARGET}/etl/ingest")
    again, _ = deploy(make_ctx(changed))
    assert not again.has_changes


def test_rename_creates_the_new_path_before_deleting_the_old(make_ctx: ContextFactory,
                                                            databricks_standin: DatabricksStandIn) -> None:
    deploy(make_ctx(FILES))
    renamed = {k: v for k, v in FILES.items() if k != "etl/ingest.py"}
    renamed["etl/load.py"] = FILES["etl/ingest.py"]
    plan, result = deploy(make_ctx(renamed))
    assert result.status == "succeeded"
    order = [(a.action, a.name) for a in plan.actions if a.action in ("create", "delete")]
    assert order.index(("create", f"{TARGET}/etl/load")) < order.index(("delete", f"{TARGET}/etl/ingest"))
    assert databricks_standin.exists(f"{TARGET}/etl/load")
    assert not databricks_standin.exists(f"{TARGET}/etl/ingest")
    assert not deploy(make_ctx(renamed))[0].has_changes


def test_everything_not_in_git_is_deleted_not_only_ours(make_ctx: ContextFactory,
                                                       databricks_standin: DatabricksStandIn) -> None:
    databricks_standin.seed_notebook(f"{TARGET}/scratch/by hand", "print(0)")
    databricks_standin.seed_file(f"{TARGET}/notes.txt", "hello")
    # Both objects there go: beyond the default max_delete_ratio (0.5), so this folder allows it.
    plan, result = deploy(make_ctx(FILES, max_delete_ratio=1.0))
    assert result.status == "succeeded", result.error_details
    deleted = {a.name: a.reason for a in plan.deletes}
    assert deleted == {f"{TARGET}/scratch": "not in Git (not deployed by us)",
                       f"{TARGET}/notes.txt": "not in Git (not deployed by us)"}
    assert not databricks_standin.exists(f"{TARGET}/scratch")
    fewer = {k: v for k, v in FILES.items() if not k.startswith("reports/")}
    plan, result = deploy(make_ctx(fewer))
    assert result.status == "succeeded"
    assert {a.name: a.reason for a in plan.deletes} == {f"{TARGET}/reports": "removed from Git"}
    assert not databricks_standin.exists(f"{TARGET}/reports/My Report été")


def test_delete_removed_false_keeps_extra_objects(make_ctx: ContextFactory,
                                                 databricks_standin: DatabricksStandIn) -> None:
    databricks_standin.seed_notebook(f"{TARGET}/keep", "print(0)")
    plan, result = deploy(make_ctx(FILES, delete_removed=False))
    assert result.status == "succeeded" and not plan.deletes
    assert databricks_standin.exists(f"{TARGET}/keep")


def test_hand_edit_is_drift_recorded_and_overwritten(make_ctx: ContextFactory, ledger: AuditLedger,
                                                    databricks_standin: DatabricksStandIn) -> None:
    deploy(make_ctx(FILES))
    path = f"{TARGET}/etl/transform"
    databricks_standin.edit_by_hand(path, "SELECT 'edited in the UI'", user="alice@contoso.com")
    ctx = make_ctx(FILES)
    plan, result = deploy(ctx)
    assert actions(plan)[path] == "drifted"
    assert [a for a in actions(plan).values() if a != "unchanged"] == ["drifted"]
    assert result.status == "succeeded"
    assert b"SELECT 1" in databricks_standin.read_source(path)
    drift = ledger.list_activity("dev", kind="drift").items
    assert [d.data["path"] for d in drift] == [path]
    assert drift[0].deployment_id == ctx.deployment_id and drift[0].data["modified_at"]
    assert not deploy(make_ctx(FILES))[0].has_changes


def _many(n: int) -> dict[str, bytes]:
    return {f"f{i % 5}/nb{i}.py": notebook(f"print({i})\n") for i in range(n)}


def test_429_storm_completes_with_every_notebook(make_ctx: ContextFactory,
                                                databricks_standin: DatabricksStandIn) -> None:
    databricks_standin.faults.add(r"^workspace\.import$", rate_per_s=20, burst=3)
    files = _many(40)
    plan, result = deploy(make_ctx(files, max_parallel=16))
    assert result.status == "succeeded", result.error
    throttled = databricks_standin.counters.count("workspace.import", 429)
    assert throttled > 0
    assert databricks_standin.counters.count("workspace.import", 200) == 40
    assert all(databricks_standin.exists(a.name) for a in plan.of("create") if a.object_type == "notebook")
    # The pacer learns the limit instead of hammering it: fewer 429s than notebooks.
    # (How fast it goes is measured by bench/bench_notebooks.py, not asserted here.)
    assert throttled < len(files)


def test_5xx_are_retried(make_ctx: ContextFactory, databricks_standin: DatabricksStandIn) -> None:
    databricks_standin.faults.add(r"^workspace\.import$", error_rate=0.3, error_statuses=(500, 503))
    files = _many(30)
    _, result = deploy(make_ctx(files))
    assert result.status == "succeeded", result.error
    assert databricks_standin.counters.count("workspace.import", 200) == 30
    assert databricks_standin.counters.count("workspace.import") > 30


def test_one_failure_does_not_stop_the_rest_and_is_retried_next_run(
        make_ctx: ContextFactory, databricks_standin: DatabricksStandIn, ledger: AuditLedger) -> None:
    bad = f"{TARGET}/etl/transform"
    rule = databricks_standin.faults.add(r"^workspace\.import$", fail_status=400,
                                         fail_when=lambda r: r.param("path") == bad)
    ctx = make_ctx(FILES)
    _, result = deploy(ctx)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("1 of ")
    assert result.summary()["failed"] == 1 and result.summary()["succeeded"] >= 3
    assert databricks_standin.exists(f"{TARGET}/etl/ingest") and not databricks_standin.exists(bad)
    recorded = {o.name: o.status for o in ledger.objects(ctx.deployment_id or "")}
    assert recorded[bad] == "failed" and recorded[f"{TARGET}/etl/ingest"] == "succeeded"
    databricks_standin.faults.remove(rule)
    plan, result = deploy(make_ctx(FILES))
    assert {k: v for k, v in actions(plan).items() if v != "unchanged"} == {bad: "create"}
    assert result.status == "succeeded"


def test_hostile_paths_are_refused_and_change_nothing(make_ctx: ContextFactory,
                                                     databricks_standin: DatabricksStandIn) -> None:
    for path in ("../escape.py", "etl/../../escape.py", "etl/bad\x07name.py"):
        with pytest.raises(BadRequest):
            NotebookDeployer().plan(make_ctx({**FILES, path: notebook("print(1)")}))
    assert databricks_standin.counters.count("workspace.import") == 0
    assert databricks_standin.paths("/Shared") == ["/Shared"]


def test_a_plan_deleting_everything_is_refused_unless_forced(make_ctx: ContextFactory,
                                                            databricks_standin: DatabricksStandIn) -> None:
    deploy(make_ctx(FILES))
    plan, result = deploy(make_ctx({}, source_dir="notebooks"))
    assert plan.refused and result.status == "failed"
    assert databricks_standin.exists(f"{TARGET}/etl/ingest")
    plan, result = deploy(make_ctx({}, force=True))
    assert plan.refused is None and result.status == "succeeded"
    assert databricks_standin.paths(TARGET) == [TARGET]


def test_repository_without_notebooks_folder_is_an_empty_plan(make_ctx: ContextFactory,
                                                             databricks_standin: DatabricksStandIn) -> None:
    ctx = make_ctx({})
    plan, result = deploy(ctx)
    assert plan.actions == () and plan.refused is None
    assert any("no folder" in w for w in plan.warnings)
    assert result.status == "succeeded" and not databricks_standin.exists(TARGET)


def test_large_notebook_goes_through_multipart_upload(make_ctx: ContextFactory,
                                                     databricks_standin: DatabricksStandIn) -> None:
    big = notebook("x = 1\n" + "# " + "a" * 78 + "\n" * 1 + ("# " + "b" * 98 + "\n") * 80_000)
    assert len(big) > 7_600_000  # base64 of it is over the 10 MB JSON limit
    seen: list[str] = []

    def multipart(r: RequestInfo) -> bool:
        seen.append(r.headers.get("Content-Type", r.headers.get("content-type", "")))
        return False
    databricks_standin.faults.add(r"^workspace\.import$", fail_when=multipart)
    _, result = deploy(make_ctx({"big.py": big}))
    assert result.status == "succeeded", result.error
    assert any(s.startswith("multipart/form-data") for s in seen)
    assert databricks_standin.read_source(f"{TARGET}/big").endswith(b"b" * 98 + b"\n")
