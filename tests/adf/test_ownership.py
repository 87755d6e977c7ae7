"""#16.4: a publish branch changes only the target factory; parameter values are literals."""

from __future__ import annotations

from typing import Any

import pytest

from shared.adf.ownership import ForeignResourceError, check_ownership
from shared.adf.parameters import resolve_parameters
from shared.adf.template import Evaluator

from .helpers import base_resources, snapshot_of, template
from .test_deploy import _ctx, _deploy

FACTORY = "adf-target"


def _check(resources: list[dict[str, Any]], **params: Any) -> None:
    tpl = template(resources, {"other": {"type": "string", "defaultValue": "adf-other"}})
    check_ownership(tpl, Evaluator({"factoryName": FACTORY, "other": "adf-other", **params},
                                   tpl["variables"]), FACTORY)


@pytest.mark.parametrize(("resource", "why"), [
    ({"name": "adf-other/pl", "type": "Microsoft.DataFactory/factories/pipelines", "properties": {}},
     "belongs to factory 'adf-other'"),
    ({"name": "[concat(parameters('other'), '/pl')]", "type": "Microsoft.DataFactory/factories/pipelines",
      "properties": {}}, "belongs to factory 'adf-other'"),
    ({"name": "[parameters('other')]", "type": "Microsoft.DataFactory/factories", "location": "westeurope",
      "tags": {"owner": "me"}}, "belongs to factory 'adf-other'"),
    ({"name": "[guid('x')]", "type": "Microsoft.Authorization/roleAssignments", "properties": {}},
     "not a Data Factory resource"),
    ({"name": "nested", "type": "Microsoft.Resources/deployments", "properties": {"template": {}}},
     "not a Data Factory resource"),
    ({"name": "[concat(parameters('factoryName'), '/pl')]", "type": "Microsoft.DataFactory/factories/pipelines",
      "resourceGroup": "rg-prod", "properties": {}}, "resourceGroup would deploy it outside"),
    ({"name": "[concat(parameters('factoryName'), '/pl/extra')]",
      "type": "Microsoft.DataFactory/factories/pipelines", "properties": {}}, "segment"),
    ({"name": "[concat(parameters('factoryName'), '/pl')]", "type": "[variables('factoryId')]",
      "properties": {}}, "not a literal resource type"),
])
def test_foreign_resources_are_refused(resource: dict[str, Any], why: str) -> None:
    with pytest.raises(ForeignResourceError) as exc:
        _check([*base_resources(), resource])
    assert why in exc.value.message and exc.value.code == "foreign_resource"


def test_own_resources_pass() -> None:
    _check([*base_resources(),
            {"name": "[parameters('factoryName')]", "type": "Microsoft.DataFactory/factories",
             "location": "westeurope", "properties": {}},
            {"name": "[concat(parameters('factoryName'), '/default/mpe1')]",
             "type": "Microsoft.DataFactory/factories/managedVirtualNetworks/managedPrivateEndpoints",
             "properties": {}},
            {"name": "ADF-TARGET/pl_upper", "type": "Microsoft.DataFactory/factories/pipelines",
             "properties": {}}])


def test_foreign_pipeline_refused_in_the_plan_nothing_changes(arm_standin: Any, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    other = arm_factory_name + "-other"
    arm_standin.create_factory(other)
    arm_standin.put_object(other, "pipelines", "pl_theirs", {"activities": []})
    evil = {"name": f"{other}/pl_theirs", "type": "Microsoft.DataFactory/factories/pipelines",
            "apiVersion": "2018-06-01", "properties": {"activities": [], "description": "overwritten"}}
    with pytest.raises(ForeignResourceError, match=other):
        _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template([*base_resources(), evil]))))
    assert arm_standin.names(arm_factory_name, "pipelines") == []
    assert "description" not in arm_standin.get_object(other, "pipelines", "pl_theirs")["properties"]
    assert arm_standin.counters.count("deployments.put") == 0


def test_parameter_values_are_literals(arm_standin: Any, arm_factory_name: str) -> None:
    """A configured value that looks like an ARM expression is stored as written, and re-plans as a no-op."""
    arm_standin.create_factory(arm_factory_name)
    literal = "[resourceGroup().name]"
    ctx = _ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources())),
               parameters={"kv_baseUrl": literal})
    _, result = _deploy(ctx)
    assert result.status == "succeeded", (result.error, result.error_details)
    ls = arm_standin.get_object(arm_factory_name, "linkedservices", "ls_kv")
    assert ls["properties"]["typeProperties"]["baseUrl"] == literal
    again, _ = _deploy(_ctx(arm_standin, arm_factory_name, snapshot_of(template(base_resources()), sha="2" * 40),
                            parameters={"kv_baseUrl": literal}))
    assert not again.has_changes, again.to_json()["actions"]
    tpl = template(base_resources(), {"obj": {"type": "object"}})
    rp = resolve_parameters(tpl, {}, factory_name="f",
                            config_values={"ls_blob_sasToken": "[s]", "obj": {"a": ["[x]", "[[y]", "z[]"]}})
    sent = rp.arm_parameters()
    assert sent["ls_blob_sasToken"] == {"value": "[[s]"}
    assert sent["obj"] == {"value": {"a": ["[[x]", "[[[y]", "z[]"]}}
