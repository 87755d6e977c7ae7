"""Adding a component is one registration plus its package: the tests' own ``jobs`` component.

``COMPONENTS.plus(JOBS)`` is the whole change; routing, the CLI choices, audit
validation, the locks and the orchestrator pick it up from the registry they
are handed. The product's registry stays as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shared import app as app_context
from shared.audit import AuditLedger
from shared.audit.queries import HistoryQuery
from shared.audit.records import DeploymentRecord
from shared.cli import main
from shared.deploy.components import COMPONENTS, ComponentRegistry, ComponentSpec
from shared.deploy.lock import EnvironmentLocks
from shared.deploy.orchestrator import Orchestrator
from shared.deploy.queue import DeploymentQueue
from shared.deploy.request import DeploymentRequest
from shared.errors import InvalidInput
from shared.ingest.push import Push
from shared.ingest.routing import route_push
from shared.settings import Settings
from tests.components.jobs import JOBS, JobsDeployer
from tests.ingest.helpers import context, github, github_push, host

from .helpers import LocalRepo, RecordingDeployer, make_config

WITH_JOBS = COMPONENTS.plus(JOBS)
JOB = json.dumps({"name": "nightly-load", "tasks": []})


def _push(config_url: str, branch: str, sha: str = "b" * 40) -> Push:
    return Push("local", "d1", config_url, f"refs/heads/{branch}", "a" * 40, sha)


def test_registering_does_not_change_the_product_registry():
    assert COMPONENTS.names() == ("adf", "notebooks")
    assert WITH_JOBS.names() == ("adf", "notebooks", "jobs")
    with pytest.raises(ValueError, match="registered twice"):
        WITH_JOBS.plus(JOBS)
    with pytest.raises(InvalidInput) as err:
        COMPONENTS.get("jobs")
    assert err.value.code == "unknown_component" and "adf, notebooks" in err.value.message


def test_a_push_to_main_routes_to_every_component_deploying_from_main(repo: LocalRepo):
    config = make_config(str(repo.path))
    route = route_push(config, _push(str(repo.path), "main"), WITH_JOBS)
    assert [(t.environment, t.component) for t in route.targets] == [("dev", "notebooks"), ("dev", "jobs")]
    assert [t.component for t in route_push(config, _push(str(repo.path), "main")).targets] == ["notebooks"]
    publish = route_push(config, _push(str(repo.path), "adf_publish"), WITH_JOBS)
    assert [t.component for t in publish.targets] == ["adf"]
    other = route_push(config, _push(str(repo.path), "feature/x"), WITH_JOBS)
    assert other.ignored == "no component deploys from branch 'feature/x' (adf_publish: adf; main: notebooks, jobs)"


def test_an_environment_without_the_target_is_skipped_with_the_section_named(repo: LocalRepo):
    only_adf = {"dev": {"deploy_on": ["push"], "data_factory": {
        "subscription_id": "11111111-1111-1111-1111-111111111111", "resource_group": "rg", "factory_name": "f"}}}
    route = route_push(make_config(str(repo.path), envs=only_adf), _push(str(repo.path), "main"), WITH_JOBS)
    assert route.targets == () and route.skipped == ("dev: no databricks section", "dev: no databricks section")
    assert route.ignored is not None and route.ignored.startswith("no environment deploys notebooks or jobs on push")


def test_audit_validation_and_locks_follow_the_registry(storage):
    q = HistoryQuery.parse({"component": "jobs"}, ["dev"], WITH_JOBS.names())
    assert q.component == "jobs"
    with pytest.raises(InvalidInput) as err:
        HistoryQuery.parse({"component": "jobs"}, ["dev"], COMPONENTS.names())
    assert err.value.code == "invalid_component"
    locks = EnvironmentLocks(storage, "dev", WITH_JOBS.names(), duration=15)
    assert sorted(lock.component for lock in locks.locks) == ["adf", "jobs", "notebooks"]


def test_the_orchestrator_deploys_the_new_component_it_is_handed(storage, ledger: AuditLedger, repo: LocalRepo):
    sha = repo.commit({"jobs/nightly.json": JOB, "jobs/readme.md": "x", "notebooks/a.py": "1"})
    config = make_config(str(repo.path))
    did = ledger.new_deployment_id("dev", "jobs", sha)
    ledger.create_deployment(DeploymentRecord(id=did, environment="dev", component="jobs", commit=sha))
    orch = Orchestrator(config, storage, ledger, Settings({}), ledger.clock, components=WITH_JOBS)
    outcome = orch.run(DeploymentRequest(did, "dev", "jobs", sha, "refs/heads/main", "manual", {}))
    assert outcome.status == "succeeded"
    rec = ledger.get_deployment(did)
    assert rec.plan is not None and [a["name"] for a in rec.plan["actions"]] == ["nightly-load"]
    assert rec.summary["update_succeeded"] == 1
    # The product's orchestrator does not know the component: the deployment fails with the reason.
    did2 = ledger.new_deployment_id("dev", "jobs", sha + "2")
    ledger.create_deployment(DeploymentRecord(id=did2, environment="dev", component="jobs", commit=sha))
    product = Orchestrator(config, storage, ledger, Settings({}), ledger.clock)
    assert product.run(DeploymentRequest(did2, "dev", "jobs", sha, "", "manual", {})).status == "failed"
    assert "unknown component 'jobs'" in (ledger.get_deployment(did2).error or "")


def test_the_cli_offers_the_new_component(tmp_path: Path, repo: LocalRepo, capsys):
    repo.commit({"jobs/nightly.json": JOB})
    cfg = tmp_path / "environments.yaml"
    cfg.write_text(yaml.safe_dump({"repository": {"provider": "local", "url": str(repo.path)}, "environments": {
        "dev": {"databricks": {"host": "http://127.0.0.1:9", "target_dir": "/Shared/dev"}}}}))
    assert main(["--config", str(cfg), "plan", "--env", "dev", "--component", "jobs", "--json"],
                components=WITH_JOBS) == 0
    (plan,) = json.loads(capsys.readouterr().out)
    assert plan["component"] == "jobs" and [a["name"] for a in plan["actions"]] == ["nightly-load"]
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(cfg), "plan", "--env", "dev", "--component", "jobs"])
    assert exit_.value.code == 2 and "invalid choice: 'jobs'" in capsys.readouterr().err


def test_one_webhook_push_queues_a_deployment_per_component(storage, clock, repo: LocalRepo):
    config = make_config("https://github.com/contoso/data-platform", provider="github")
    app_context.set_current(context(storage, config, clock, components=WITH_JOBS))
    try:
        status, _, data = host().dispatch("POST", "http://x/api/hooks/github", *github(github_push()))
    finally:
        app_context.set_current(None)
    assert status == 202
    ledger = AuditLedger(storage, clock)
    recs = [ledger.get_deployment(d) for d in json.loads(data)["deployments"]]
    assert sorted((r.environment, r.component) for r in recs) == [("dev", "jobs"), ("dev", "notebooks")]
    assert sorted(r.component for r in DeploymentQueue(storage).peek()) == ["jobs", "notebooks"]


def test_a_spec_may_build_its_deployer_directly():
    probe = RecordingDeployer("probe")
    registry = ComponentRegistry().plus(ComponentSpec("probe", target="databricks", deployer=lambda: probe,
                                                      branches=lambda c: ("main",)))
    assert registry.deployer("probe") is probe and registry.names() == ("probe",)
    replaced = WITH_JOBS.replacing_deployer("jobs", lambda: probe)
    assert replaced.deployer("jobs") is probe and isinstance(WITH_JOBS.deployer("jobs"), JobsDeployer)
