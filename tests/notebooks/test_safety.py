"""Deletes are safe by construction: a dedicated target folder, a delete-ratio guard, path limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devhost.standins.databricks import DatabricksStandIn
from shared.config import DatabricksTarget, parse_config
from shared.deploy.model import Plan, PlannedAction
from shared.notebooks.deployer import NotebookDeployer
from shared.release.approvals import hold_reasons

from .conftest import TARGET, ContextFactory, notebook

HOSTILE = ["/", "/Users", "/Users/", "/Shared", "/Shared/", "/Repos", "/Workspace", "/Workspace/",
           "/Workspace/Users", "/Workspace/Shared", "/workspace/repos", "/users", "/SHARED",
           "/Shared/./", "/Shared/dev/..", "/Shared/dev\n", " /Shared/dev", "/Shared/dev\t",
           "/Users/ada@contoso.com", "/Users/ada@contoso.com/", "/Workspace/Users/ada@contoso.com",
           "/Repos/ada@contoso.com", "//Users", "/Shared//", "/Shared\\dev", "Shared/dev", "",
           "/Shared/" + "x" * 256]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_target_dirs_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        DatabricksTarget(host="https://adb-1.azuredatabricks.net", target_dir=value)


@pytest.mark.parametrize(("value", "normalised"), [
    ("/Shared/./dev/", "/Shared/dev"), ("/Shared//dev", "/Shared/dev"), ("/Shared/dev", "/Shared/dev"),
    ("/Users/ada@contoso.com/platform", "/Users/ada@contoso.com/platform"),
    ("/Workspace/Shared/platform", "/Workspace/Shared/platform"), ("/Teams/data", "/Teams/data"),
])
def test_target_dirs_are_normalised_first(value: str, normalised: str) -> None:
    assert DatabricksTarget(host="https://adb-1.azuredatabricks.net", target_dir=value).target_dir == normalised


def test_config_file_names_the_bad_target() -> None:
    from shared.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_config({"repository": {"url": "https://github.com/o/r"},
                      "environments": {"dev": {"databricks": {"host": "https://adb-1.azuredatabricks.net",
                                                              "target_dir": "/Users"}}}})
    assert "environments.dev.databricks.target_dir" in info.value.message
    assert "root" in info.value.message


def _seed_others(standin: DatabricksStandIn, n: int) -> list[str]:
    paths = [f"{TARGET}/people/user{i}/work" for i in range(n)]
    for p in paths:
        standin.seed_notebook(p, "print('mine, not the deployer''s')")
    return paths


def test_one_notebook_into_a_folder_of_others_is_refused_and_changes_nothing(
        make_ctx: ContextFactory, databricks_standin: DatabricksStandIn) -> None:
    others = _seed_others(databricks_standin, 6)
    before = databricks_standin.counters.count()
    deployer = NotebookDeployer()
    ctx = make_ctx({"only.py": notebook("print(1)\n")})
    plan = deployer.plan(ctx)
    assert plan.refused and "max_delete_ratio" in plan.refused and "6 of the 6" in plan.refused
    assert plan.data["deletes"] == {"objects": 6, "of": 6, "max_ratio": 0.5}
    result = deployer.apply(ctx, plan)
    assert result.status == "failed"
    writes = {r: n for r, n in databricks_standin.counters.snapshot().items()
              if r in ("workspace.import", "workspace.delete", "workspace.mkdirs")}
    assert writes == {}, writes
    assert all(databricks_standin.exists(p) for p in others)
    assert databricks_standin.counters.count() > before  # it did look (listing), only looked


def test_a_delete_within_the_ratio_goes_through_and_force_overrides(
        make_ctx: ContextFactory, databricks_standin: DatabricksStandIn) -> None:
    files = {f"n{i}.py": notebook(f"print({i})\n") for i in range(4)}
    deployer = NotebookDeployer()
    ctx = make_ctx(files)
    deployer.apply(ctx, deployer.plan(ctx))
    fewer = {k: v for k, v in files.items() if k != "n0.py"}  # 1 of 4 goes: within 0.5
    ctx = make_ctx(fewer)
    plan = deployer.plan(ctx)
    assert plan.refused is None and [a.name for a in plan.deletes] == [f"{TARGET}/n0"]
    assert deployer.apply(ctx, plan).status == "succeeded"
    ctx = make_ctx({"n1.py": files["n1.py"]})  # 2 of 3 go: refused, unless forced
    assert "max_delete_ratio" in (deployer.plan(ctx).refused or "")
    ctx = make_ctx({"n1.py": files["n1.py"]}, force=True)
    plan = deployer.plan(ctx)
    assert plan.refused is None and any("forced" in w for w in plan.warnings)
    assert deployer.apply(ctx, plan).status == "succeeded"
    assert databricks_standin.paths(TARGET) == [TARGET, f"{TARGET}/n1"]


def test_overlong_workspace_paths_are_refused_in_the_plan_before_any_change(
        make_ctx: ContextFactory, databricks_standin: DatabricksStandIn) -> None:
    long_name = "é" * 130 + ".py"  # 260 bytes of UTF-8 once the extension goes: over 255
    deep = "/".join(["d" * 200] * 21) + "/n.py"  # every name fits, the whole path does not
    for files in ({long_name: notebook("x = 1\n"), "ok.py": notebook("y = 2\n")}, {deep: notebook("z = 3\n")}):
        deployer = NotebookDeployer()
        ctx = make_ctx(files)
        plan = deployer.plan(ctx)
        assert plan.refused and "exceed the workspace's limits" in plan.refused, plan.refused
        assert deployer.apply(ctx, plan).status == "failed"
    assert not databricks_standin.exists(TARGET)
    assert databricks_standin.counters.count("workspace.import") == 0


def test_the_standin_refuses_overlong_paths_like_the_workspace(databricks_standin: DatabricksStandIn) -> None:
    from databricks.sdk.errors import InvalidParameterValue

    client = databricks_standin.client()
    with pytest.raises(InvalidParameterValue):
        client.workspace.mkdirs("/Shared/" + "n" * 256)
    client.workspace.mkdirs("/Shared/" + "n" * 255)


def test_notebook_deletes_count_for_protect_deletes() -> None:
    from shared.audit.records import DeploymentRecord
    from shared.deploy.orchestrator import GateInput
    from shared.deploy.request import DeploymentRequest

    cfg = parse_config({"repository": {"url": "https://github.com/o/r"},
                        "environments": {"dev": {"protect_deletes": True, "databricks": {
                            "host": "https://adb-1.azuredatabricks.net", "target_dir": "/Shared/dev"}}}})
    plan = Plan("notebooks", "dev", "a" * 40, (PlannedAction("create", "notebook", "/Shared/dev/new"),
                                                PlannedAction("delete", "notebook", "/Shared/dev/old")))
    rec = DeploymentRecord(id="x", environment="dev", component="notebooks", commit="a" * 40)
    req = DeploymentRequest("x", "dev", "notebooks", "a" * 40)
    reasons = hold_reasons(GateInput(rec, req, plan, cfg, None))  # type: ignore[arg-type]
    assert reasons and "notebook /Shared/dev/old" in reasons[0]
