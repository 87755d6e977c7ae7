"""#17.9: managed private endpoints are recreated, never changed in place; duplicates refused in the plan."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adf.plan import PlanError

from .helpers import base_resources, sched, snapshot_of, template
from .test_deploy import _ctx, _deploy

STORAGE = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/" \
          "Microsoft.Storage/storageAccounts/"


def _network(*endpoints: tuple[str, str, str]) -> list[dict[str, Any]]:
    vnet = {"name": "[concat(parameters('factoryName'), '/default')]",
            "type": "Microsoft.DataFactory/factories/managedVirtualNetworks", "apiVersion": "2018-06-01",
            "properties": {}, "dependsOn": []}
    eps = [{"name": f"[concat(parameters('factoryName'), '/default/{name}')]",
            "type": "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
            "apiVersion": "2018-06-01", "properties": {"privateLinkResourceId": STORAGE + account, "groupId": group},
            "dependsOn": ["[concat(variables('factoryId'), '/managedVirtualNetworks/default')]"]}
           for name, account, group in endpoints]
    return [*base_resources(), vnet, *eps]


def test_changed_endpoint_is_deleted_and_recreated(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(_network(("mpe_blob", "sa1", "blob"))))))
    assert r1.status == "succeeded", (r1.error, r1.error_details)
    same, r2 = _deploy(_ctx(arm_standin, arm_factory_name,
                            snapshot_of(template(_network(("mpe_blob", "SA1", "blob"))), sha="2" * 40)))
    assert r2.status == "succeeded" and not same.has_changes  # resource ids are case-insensitive
    plan, r3 = _deploy(_ctx(arm_standin, arm_factory_name,
                            snapshot_of(template(_network(("mpe_blob", "sa2", "blob"))), sha="3" * 40)))
    assert r3.status == "succeeded", (r3.error, r3.error_details)
    # a one-way change: it is a delete (protect_deletes counts plan.deletes), then a create
    assert [(a.object_type, a.name) for a in plan.deletes] == [("managedPrivateEndpoint", "default/mpe_blob")]
    assert sched(plan)["recreate"] == [{"object_type": "managedPrivateEndpoint", "name": "default/mpe_blob"}]
    live = arm_standin.get_object(arm_factory_name, "managedprivateendpoints", "mpe_blob", parent="default")
    assert live["properties"]["privateLinkResourceId"].endswith("/sa2")


def test_failed_deployment_puts_the_deleted_endpoint_back(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    _, r1 = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(_network(("mpe_blob", "sa1", "blob"))))))
    assert r1.status == "succeeded"
    arm_standin.fail_deployment("test-44444444", code="DeploymentFailed", message="Injected")
    _, r2 = _deploy(_ctx(arm_standin, arm_factory_name,
                         snapshot_of(template(_network(("mpe_blob", "sa2", "blob"))), sha="4" * 40)))
    assert r2.status == "failed" and r2.failed_step == "arm_deployment"
    live = arm_standin.get_object(arm_factory_name, "managedprivateendpoints", "mpe_blob", parent="default")
    assert live is not None and live["properties"]["privateLinkResourceId"].endswith("/sa1")


def test_two_endpoints_to_one_resource_are_refused_in_the_plan(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    dup = _network(("mpe_a", "sa1", "blob"), ("mpe_b", "SA1", "blob"))
    with pytest.raises(PlanError, match="both connect to") as exc:
        _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(dup))))
    assert exc.value.code == "duplicate_private_endpoint"
    assert arm_standin.counters.count("deployments.put") == 0
    # another group of the same account is another endpoint
    _, r = _deploy(_ctx(arm_standin, arm_factory_name,
                         snapshot_of(template(_network(("mpe_a", "sa1", "blob"), ("mpe_b", "sa1", "dfs"))))))
    assert r.status == "succeeded", (r.error, r.error_details)


def test_the_stand_in_refuses_what_adf_refuses(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    arm_standin.put_object(arm_factory_name, "managedvirtualnetworks", "default", {})
    props = {"privateLinkResourceId": STORAGE + "sa1", "groupId": "blob"}
    arm_standin.put_object(arm_factory_name, "managedprivateendpoints", "a", props, parent="default")
    from devhost.standins.arm_state import AdfError

    with pytest.raises(AdfError, match="cannot be updated"):
        arm_standin.put_object(arm_factory_name, "managedprivateendpoints", "a", {**props, "groupId": "dfs"},
                               parent="default")
    with pytest.raises(AdfError, match="already exist"):
        arm_standin.put_object(arm_factory_name, "managedprivateendpoints", "b", props, parent="default")
