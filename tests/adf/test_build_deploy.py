"""``adf.source: main``: a push to main deploys ADF built from the factory JSON (routing + ARM stand-in)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adf.build.source import FactoryValidationError
from shared.clock import FakeClock
from shared.config import (
    AdfSource,
    DatabricksSource,
    DatabricksTarget,
    DataFactoryTarget,
    Environment,
    PlatformConfig,
    Repository,
)
from shared.deploy.components import COMPONENTS
from shared.deploy.model import DeployContext
from shared.git.snapshot import CommitSnapshot
from shared.ingest.push import Push
from shared.ingest.routing import route_push
from shared.ingest.webhook_sources import parse_github

ROOT = "ADF"
REPO = "https://github.com/o/r"


def _factory(extra: dict[str, Any] | None = None) -> dict[str, bytes]:
    objs = {
        "linkedService/ls_blob.json": {"name": "ls_blob", "type": "Microsoft.DataFactory/factories/linkedservices",
                                       "properties": {"type": "AzureBlobStorage", "annotations": [], "typeProperties": {
                                           "connectionString": "DefaultEndpointsProtocol=https;AccountName=a;",
                                           "encryptedCredential": "eyJ4IjoxfQ=="}}},
        "dataset/ds_in.json": {"name": "ds_in", "properties": {
            "type": "Json", "linkedServiceName": {"referenceName": "ls_blob", "type": "LinkedServiceReference"},
            "typeProperties": {"location": {"type": "AzureBlobStorageLocation", "container": "in"}}}},
        "pipeline/pl_copy.json": {"name": "pl_copy", "properties": {"activities": [{
            "name": "look", "type": "Lookup", "dependsOn": [], "typeProperties": {
                "source": {"type": "JsonSource"}, "dataset": {"referenceName": "ds_in", "type": "DatasetReference"}}}],
            "annotations": []}},
        "trigger/tr_hourly.json": {"name": "tr_hourly", "properties": {
            "runtimeState": "Started", "type": "ScheduleTrigger", "annotations": [],
            "pipelines": [{"pipelineReference": {"referenceName": "pl_copy", "type": "PipelineReference"}}],
            "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1,
                                              "startTime": "2024-01-01T00:00:00Z", "timeZone": "UTC"}}}},
        **(extra or {}),
    }
    return {f"{ROOT}/{k}": json.dumps(v).encode() for k, v in objs.items()}


def _config(target: Any = None) -> PlatformConfig:
    target = target or DataFactoryTarget(subscription_id="00000000-0000-0000-0000-000000000000",
                                         resource_group="rg", factory_name="f")
    envs = {"dev": Environment(deploy_on=["push"], data_factory=target,
                               databricks=DatabricksTarget(host="http://127.0.0.1:9", target_dir="/Shared/dev"))}
    return PlatformConfig(repository=Repository(url=REPO), adf=AdfSource(source="main", root_folder=ROOT),
                          databricks=DatabricksSource(source_dir="notebooks"), environments=envs)


def _push(branch: str, paths: tuple[str, ...] | None) -> Push:
    return Push(provider="github", delivery_id="d1", repository=REPO, ref=f"refs/heads/{branch}",
                before="1" * 40, after="2" * 40, changed_paths=paths)


@pytest.mark.parametrize(("paths", "components"), [
    (("notebooks/etl/load.py",), ["notebooks"]),
    (("ADF/pipeline/pl_copy.json",), ["adf"]),
    (("ADF/arm-template-parameters-definition.json", "notebooks/a.py"), ["adf", "notebooks"]),
    (("ADF/README.md", "docs/x.md"), []),
    (None, ["adf", "notebooks"]),  # the payload does not list files: both, each deploys incrementally
])
def test_push_to_main_routes_by_what_it_changes(paths: tuple[str, ...] | None, components: list[str]) -> None:
    route = route_push(_config(), _push("main", paths))
    assert [t.component for t in route.targets] == components
    if not components:
        assert route.ignored == "the push changes nothing the components of 'main' deploy (adf: ADF, notebooks: notebooks)"


def test_publish_branch_is_not_deployed_when_adf_comes_from_main() -> None:
    route = route_push(_config(), _push("adf_publish", None))
    assert route.targets == () and route.ignored == "no component deploys from branch 'adf_publish' (main: adf, notebooks)"
    publish = _config().model_copy(update={"adf": AdfSource()})
    assert [t.component for t in route_push(publish, _push("adf_publish", None)).targets] == ["adf"]
    assert [t.component for t in route_push(publish, _push("main", ("ADF/pipeline/x.json",))).targets] == \
        ["notebooks"]  # today's behaviour unchanged with adf.source: publish


def test_github_payload_lists_the_changed_files() -> None:
    payload = {"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40,
               "repository": {"clone_url": REPO + ".git", "full_name": "o/r"},
               "commits": [{"id": "2" * 40, "timestamp": "2024-01-01T00:00:00Z", "added": ["ADF/dataset/d.json"],
                            "modified": ["notebooks/n.py"], "removed": []}]}
    push = parse_github({"x-github-delivery": "abc"}, payload)
    assert push.changed_paths == ("ADF/dataset/d.json", "notebooks/n.py")
    assert parse_github({"x-github-delivery": "abc"}, {**payload, "forced": True}).changed_paths is None


def _ctx(arm: Any, factory: str, files: dict[str, bytes], sha: str) -> DeployContext:
    target = arm.target(factory, parameters={"ls_blob_connectionString": "DefaultEndpointsProtocol=https;x"})
    return DeployContext(config=_config(target), environment="dev", snapshot=CommitSnapshot(sha, files),
                         settings=arm.settings(), clock=FakeClock())


def test_main_commit_deploys_the_built_template(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    deployer = COMPONENTS.deployer("adf")
    ctx = _ctx(arm_standin, arm_factory_name, _factory(), "a" * 40)
    plan = deployer.plan(ctx)
    assert plan.data["template"]["layout"] == "built-full"
    assert "adf.source: main" in plan.data["template"]["source"] and "a" * 12 in plan.data["template"]["source"]
    result = deployer.apply(ctx, plan)
    assert result.status == "succeeded", result.error
    assert arm_standin.names(arm_factory_name, "pipelines") == ["pl_copy"]
    assert arm_standin.names(arm_factory_name, "datasets") == ["ds_in"]
    assert arm_standin.trigger_state(arm_factory_name, "tr_hourly") == "Started"
    again = deployer.plan(_ctx(arm_standin, arm_factory_name, _factory(), "b" * 40))
    assert not again.has_changes, again.to_json()


def test_invalid_factory_json_deploys_nothing(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    broken = _factory({"pipeline/pl_bad.json": {"name": "pl_bad", "properties": {"activities": [{
        "name": "run", "type": "ExecutePipeline", "typeProperties": {
            "pipeline": {"referenceName": "pl_gone", "type": "PipelineReference"}}}]}}})
    with pytest.raises(FactoryValidationError) as exc:
        COMPONENTS.deployer("adf").plan(_ctx(arm_standin, arm_factory_name, broken, "c" * 40))
    assert exc.value.kind == "invalid_input"
    assert exc.value.details[0]["file"] == "ADF/pipeline/pl_bad.json"
    assert exc.value.details[0]["path"] == "$.properties.activities[0].typeProperties.pipeline"
    assert arm_standin.names(arm_factory_name, "pipelines") == []


def test_built_factory_over_arm_limits_deploys_through_the_linked_path(arm_standin: Any,
                                                                        arm_factory_name: str) -> None:
    from shared.adf.build.synthetic import generate_factory

    files = generate_factory(850, root=ROOT)
    secrets = {f"ls_{i}_password": "pw" for i in range(850 // 20)}
    arm_standin.create_factory(arm_factory_name)
    target = arm_standin.target(arm_factory_name, parameters=secrets)
    ctx = DeployContext(config=_config(target), environment="dev", snapshot=CommitSnapshot("d" * 40, files),
                        settings=arm_standin.settings(), clock=FakeClock())
    deployer = COMPONENTS.deployer("adf")
    plan = deployer.plan(ctx)
    assert plan.data["template"]["layout"] == "built-linked"  # 850 resources: over ARM's 800 per template
    assert plan.data["template"]["resources"] == 850
    result = deployer.apply(ctx, plan)
    assert result.status == "succeeded", (result.error, result.error_details)
    assert len(arm_standin.names(arm_factory_name, "pipelines")) == len([f for f in files if "/pipeline/" in f])
    assert len(arm_standin.names(arm_factory_name, "datasets")) == 340
    small = deployer.plan(_ctx(arm_standin, arm_factory_name, _factory(), "e" * 40))
    assert small.data["template"]["layout"] == "built-full"


def test_plan_and_deploy_default_to_the_main_branch_when_adf_comes_from_main() -> None:
    from shared.deploy.components import COMPONENTS

    assert COMPONENTS.get("adf").default_ref(_config()) == "main"
    assert COMPONENTS.get("adf").default_ref(_config().model_copy(update={"adf": AdfSource()})) == "adf_publish"
