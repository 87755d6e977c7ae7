"""A component of the tests' own: Databricks job definitions (``jobs/*.json`` on the main branch).

It exists to show that adding a component is one registration (``JOBS`` below,
added to a registry with ``COMPONENTS.plus(JOBS)``) plus its package (this
deployer); nothing in the product changes. Its target is the environment's
``databricks`` section, its desired state the commit's ``jobs`` folder; it
applies nothing remote (the tests assert on the plan, the audit and routing).
"""

from __future__ import annotations

import json

from shared.audit.records import ObjectResult
from shared.deploy.components import ComponentSpec
from shared.deploy.model import ApplyResult, DeployContext, Plan, PlannedAction

JOBS = ComponentSpec(
    "jobs", target="databricks", deployer="tests.components.jobs:JobsDeployer",
    branches=lambda config: (config.repository.main_branch,),
    folders=lambda config: ("jobs",),
    help="Databricks job definitions of the main branch (tests only)")


class JobsDeployer:
    component = "jobs"

    def plan(self, ctx: DeployContext) -> Plan:
        actions, warnings = [], []
        for folder in JOBS.folders(ctx.config):
            for path, data in sorted(ctx.snapshot.under(folder).items()):
                if not path.endswith(".json"):
                    continue
                try:
                    name = str(json.loads(data)["name"])
                except (ValueError, KeyError, TypeError):
                    warnings.append(f"{path}: not a job definition (a JSON object with a name)")
                    continue
                actions.append(PlannedAction("update", "job", name, reason=path))
        return Plan(self.component, ctx.environment, ctx.snapshot.sha, tuple(actions), tuple(warnings))

    def apply(self, ctx: DeployContext, plan: Plan) -> ApplyResult:
        return ApplyResult("succeeded", [ObjectResult(a.object_type, a.name, a.action, "succeeded")
                                         for a in plan.actions])
