"""azure-mgmt-resource-deployments against the ARM stand-in: template deployments, LRO, failures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.fixtures.arm import ArmStandInHandle

FACTORY_ID = "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"

TEMPLATE: dict[str, Any] = {
    "$schema": "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        "factoryName": {"type": "string"},
        "LS_Blob_connectionString": {"type": "secureString"},
        "interval": {"type": "int", "defaultValue": 1},
    },
    "variables": {"factoryId": FACTORY_ID, "prefix": "[concat('in/', parameters('factoryName'))]"},
    "resources": [
        {"name": "[concat(parameters('factoryName'), '/PL_Copy')]",
         "type": "Microsoft.DataFactory/factories/pipelines", "apiVersion": "2018-06-01",
         "properties": {"activities": [{"name": "meta", "type": "GetMetadata", "typeProperties": {
             "dataset": {"referenceName": "DS_In", "type": "DatasetReference"}, "fieldList": ["[[x]"]}}]},
         "dependsOn": ["[concat(variables('factoryId'), '/datasets/DS_In')]"]},
        {"name": "[concat(parameters('factoryName'), '/DS_In')]",
         "type": "Microsoft.DataFactory/factories/datasets", "apiVersion": "2018-06-01",
         "properties": {"type": "Binary", "linkedServiceName": {"referenceName": "LS_Blob",
                                                                "type": "LinkedServiceReference"},
                        "typeProperties": {"location": {"type": "AzureBlobStorageLocation",
                                                        "folderPath": "[variables('prefix')]"}}},
         "dependsOn": ["[concat(variables('factoryId'), '/linkedServices/LS_Blob')]"]},
        {"name": "[concat(parameters('factoryName'), '/LS_Blob')]",
         "type": "Microsoft.DataFactory/factories/linkedServices", "apiVersion": "2018-06-01",
         "properties": {"type": "AzureBlobStorage", "typeProperties": {"connectionString": {
             "type": "SecureString", "value": "[parameters('LS_Blob_connectionString')]"}}},
         "dependsOn": []},
        {"name": "[concat(parameters('factoryName'), '/TR_Hourly')]",
         "type": "Microsoft.DataFactory/factories/triggers", "apiVersion": "2018-06-01",
         "properties": {"type": "ScheduleTrigger", "runtimeState": "Started",
                        "pipelines": [{"pipelineReference": {"referenceName": "PL_Copy",
                                                             "type": "PipelineReference"}}],
                        "typeProperties": {"recurrence": {"frequency": "Hour",
                                                          "interval": "[parameters('interval')]"}}},
         "dependsOn": ["[concat(variables('factoryId'), '/pipelines/PL_Copy')]"]},
    ],
}


def _body(template: dict[str, Any], factory: str, **params: Any) -> dict[str, Any]:
    values = {"factoryName": factory, "LS_Blob_connectionString": "secret-conn", **params}
    return {"properties": {"mode": "Incremental", "template": template,
                           "parameters": {k: {"value": v} for k, v in values.items()}}}


def test_template_deployment_creates_objects(arm_standin: ArmStandInHandle, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    rg = arm_standin.resource_group
    result = client.deployments.begin_create_or_update(rg, "dep1", _body(TEMPLATE, arm_factory_name)).result()
    assert result.properties.provisioning_state == "Succeeded"
    assert result.properties.correlation_id
    assert "LS_Blob_connectionString" not in (result.properties.parameters or {})  # secure: not echoed

    ds = arm_standin.get_object(arm_factory_name, "datasets", "DS_In")
    assert ds is not None
    assert ds["properties"]["typeProperties"]["location"]["folderPath"] == f"in/{arm_factory_name}"
    pl = arm_standin.get_object(arm_factory_name, "pipelines", "PL_Copy")
    assert pl["properties"]["activities"][0]["typeProperties"]["fieldList"] == ["[x]"]  # [[ escape
    tr = arm_standin.get_object(arm_factory_name, "triggers", "TR_Hourly")
    assert tr["properties"]["runtimeState"] == "Stopped"  # runtimeState in a template is ignored
    assert tr["properties"]["typeProperties"]["recurrence"]["interval"] == 1
    assert arm_standin.counters.count("deployments.status") >= 1

    # Incremental: a second deployment with a changed parameter updates, leaves others alone
    arm_standin.put_object(arm_factory_name, "pipelines", "PL_Other", {"activities": []})
    client.deployments.begin_create_or_update(rg, "dep2", _body(TEMPLATE, arm_factory_name, interval=3)).result()
    assert arm_standin.get_object(arm_factory_name, "triggers", "TR_Hourly")["properties"][
        "typeProperties"]["recurrence"]["interval"] == 3
    assert arm_standin.get_object(arm_factory_name, "pipelines", "PL_Other") is not None
    got = client.deployments.get(rg, "dep2")
    assert got.properties.provisioning_state == "Succeeded" and len(got.properties.output_resources) == 4


def test_invalid_template_is_rejected_synchronously(arm_standin: ArmStandInHandle,
                                                    arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    body = _body(TEMPLATE, arm_factory_name)
    del body["properties"]["parameters"]["LS_Blob_connectionString"]
    with pytest.raises(HttpResponseError) as err:
        client.deployments.begin_create_or_update(arm_standin.resource_group, "bad", body)
    assert err.value.status_code == 400
    assert err.value.error.code == "InvalidTemplate"
    assert "LS_Blob_connectionString" in err.value.error.message
    assert arm_standin.names(arm_factory_name, "pipelines") == []


def test_started_trigger_fails_deployment_with_details(arm_standin: ArmStandInHandle,
                                                       arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    rg = arm_standin.resource_group
    client.deployments.begin_create_or_update(rg, "first", _body(TEMPLATE, arm_factory_name)).result()
    arm_standin.set_trigger_state(arm_factory_name, "TR_Hourly", "Started")

    correlation = "c0ffee00-0000-4000-8000-000000000001"
    with pytest.raises(HttpResponseError) as err:
        client.deployments.begin_create_or_update(
            rg, "second", _body(TEMPLATE, arm_factory_name, interval=5),
            headers={"x-ms-correlation-request-id": correlation}).result()
    assert "DeploymentFailed" in str(err.value)
    dep = client.deployments.get(rg, "second")
    assert dep.properties.provisioning_state == "Failed"
    assert dep.properties.correlation_id == correlation
    assert dep.properties.error.code == "DeploymentFailed"
    assert [d.code for d in dep.properties.error.details] == ["TriggerEnabledCannotUpdate"]
    # the trigger kept its definition and state
    tr = arm_standin.get_object(arm_factory_name, "triggers", "TR_Hourly")
    assert tr["properties"]["runtimeState"] == "Started"
    assert tr["properties"]["typeProperties"]["recurrence"]["interval"] == 1


def test_missing_factory_and_injected_failures(arm_standin: ArmStandInHandle, arm_factory_name: str) -> None:
    client = arm_standin.deployments_client()
    rg = arm_standin.resource_group
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update(rg, "nofactory", _body(TEMPLATE, arm_factory_name)).result()
    assert client.deployments.get(rg, "nofactory").properties.error.details[0].code == "ParentResourceNotFound"

    arm_standin.create_factory(arm_factory_name)
    arm_standin.fail_object(arm_factory_name, "datasets", "DS_In", "BadRequest", "injected dataset failure")
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update(rg, "ds-fails", _body(TEMPLATE, arm_factory_name)).result()
    err = client.deployments.get(rg, "ds-fails").properties.error
    assert [d.message for d in err.details] == ["injected dataset failure"]
    # the linked service (no failed dependency) was deployed; dependants of the dataset were not
    assert arm_standin.names(arm_factory_name, "linkedservices") == ["LS_Blob"]
    assert arm_standin.names(arm_factory_name, "pipelines") == []

    arm_standin.fail_deployment("boom-.*", "InternalServerError", "injected")
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update(rg, "boom-1", _body(TEMPLATE, arm_factory_name)).result()


def _corpus_parameters(template: dict[str, Any], factory: str) -> dict[str, Any]:
    dummy = {"string": "x", "securestring": "s", "object": {}, "secureobject": {}, "array": [], "int": 1,
             "bool": True}
    params: dict[str, Any] = {}
    for name, spec in template.get("parameters", {}).items():
        if name == "factoryName":
            params[name] = {"value": factory}
        elif "defaultValue" not in spec:
            params[name] = {"value": dummy[spec["type"].lower()]}
    return params


@pytest.mark.parametrize("rel", [
    "josefineselke-Covid-Reporting-Course-Examples/ARMTemplateForFactory.json",
    "KranioIO-repo-shared/ARMTemplateForFactory.json",
    "Terminator-Aaron-adf_publish/arm_template.json",
    "alesaez-adf-cicd/ARMTemplateForFactory.json",
    "devlace-datadevops/ddodfdev/ARMTemplateForFactory.json",
])
def test_corpus_templates_deploy(arm_standin: ArmStandInHandle, arm_factory_name: str, corpus: Path,
                                 rel: str) -> None:
    template = json.loads((corpus / "adf" / rel).read_text(encoding="utf-8-sig"))
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    body = {"properties": {"mode": "Incremental", "template": copy.deepcopy(template),
                           "parameters": _corpus_parameters(template, arm_factory_name)}}
    result = client.deployments.begin_create_or_update(arm_standin.resource_group, "corpus", body).result()
    assert result.properties.provisioning_state == "Succeeded"
    expected = [r for r in template["resources"] if r["type"].startswith("Microsoft.DataFactory/")]
    assert len(result.properties.output_resources) == len(expected)
    for res in expected:
        kind = res["type"].rsplit("/", 1)[1].lower()
        name = res["name"].rstrip("')]").rsplit("/", 1)[1]
        parent = res["name"].rstrip("')]").split("/")[1] if kind == "managedprivateendpoints" else None
        assert arm_standin.get_object(arm_factory_name, kind, name, parent=parent) is not None, (kind, name)


@pytest.fixture
def template_host(tmp_path: Path) -> Any:
    """A plain HTTP file server for linked templates (what a storage container serves in Azure)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    def serve(directory: Path) -> str:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    servers: list[Any] = []
    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_linked_templates_are_fetched_and_deployed(arm_standin: ArmStandInHandle, arm_factory_name: str,
                                                   tmp_path: Path, template_host: Any) -> None:
    child = copy.deepcopy(TEMPLATE)
    (tmp_path / "ArmTemplate_0.json").write_text(json.dumps(child))
    master = {"contentVersion": "1.0.0.0",
              "parameters": {"factoryName": {"type": "string"}, "containerUri": {"type": "string"},
                             "containerSasToken": {"type": "string"},
                             "LS_Blob_connectionString": {"type": "secureString"}},
              "resources": [{"name": "child0", "type": "Microsoft.Resources/deployments",
                             "apiVersion": "2018-02-01",
                             "properties": {"mode": "incremental", "templateLink": {
                                 "uri": "[concat(parameters('containerUri'), '/ArmTemplate_0.json', "
                                        "parameters('containerSasToken'))]", "contentVersion": "1.0.0.0"},
                                 "parameters": {"factoryName": {"value": "[parameters('factoryName')]"},
                                                "LS_Blob_connectionString": {
                                                    "value": "[parameters('LS_Blob_connectionString')]"}}},
                             "dependsOn": []}]}
    base = template_host(tmp_path)
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    rg = arm_standin.resource_group
    body = _body(master, arm_factory_name, containerUri=base, containerSasToken="?sv=x")
    assert client.deployments.begin_create_or_update(rg, "master", body).result() \
        .properties.provisioning_state == "Succeeded"
    assert arm_standin.names(arm_factory_name, "pipelines") == ["PL_Copy"]
    assert client.deployments.get(rg, "child0").properties.provisioning_state == "Succeeded"

    body = _body(master, arm_factory_name, containerUri=base + "/missing", containerSasToken="")
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update(rg, "master2", body).result()
    details = client.deployments.get(rg, "master2").properties.error.details
    assert details[0].code == "InvalidContentLink"


@pytest.mark.parametrize("rel", ["devlace-datadevops/ddodfdev", "Terminator-Aaron-adf_publish"])
def test_corpus_linked_templates_deploy(arm_standin: ArmStandInHandle, arm_factory_name: str, corpus: Path,
                                        template_host: Any, rel: str) -> None:
    folder = corpus / "adf" / rel / "linkedTemplates"
    master = json.loads((folder / "ArmTemplate_master.json").read_text(encoding="utf-8-sig"))
    params = _corpus_parameters(master, arm_factory_name)
    params["containerUri"] = {"value": template_host(folder)}
    params["containerSasToken"] = {"value": ""}
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    body = {"properties": {"mode": "Incremental", "template": master, "parameters": params}}
    result = client.deployments.begin_create_or_update(arm_standin.resource_group, "master", body).result()
    assert result.properties.provisioning_state == "Succeeded"
    children = sorted(folder.glob("ArmTemplate_[0-9]*.json"))
    expected = sum(len(json.loads(c.read_text(encoding="utf-8-sig"))["resources"]) for c in children)
    deployed = sum(len(arm_standin.names(arm_factory_name, kind)) for kind in
                   ("pipelines", "datasets", "linkedservices", "triggers", "dataflows", "integrationruntimes"))
    assert deployed == expected


def test_limits_validate_cancel_and_operations(arm_standin: ArmStandInHandle, arm_factory_name: str) -> None:
    """As ARM: templates over 800 resources / 256 parameters refused (validate and PUT), a running
    deployment can be cancelled (not a finished one), and operations say what happened per resource."""
    arm_standin.create_factory(arm_factory_name)
    client = arm_standin.deployments_client()
    rg = arm_standin.resource_group
    big = copy.deepcopy(TEMPLATE)
    big["resources"] = [{"name": f"[concat(parameters('factoryName'), '/P{i}')]", "apiVersion": "2018-06-01",
                         "type": "Microsoft.DataFactory/factories/pipelines", "properties": {"activities": []}}
                        for i in range(801)]
    many = copy.deepcopy(TEMPLATE)
    many["parameters"].update({f"p{i}": {"type": "string", "defaultValue": ""} for i in range(254)})
    for tpl, limit in ((big, "Limit: '800' and actual: '801'"), (many, "Limit: '256' and actual: '257'")):
        for call in (client.deployments.begin_validate, client.deployments.begin_create_or_update):
            with pytest.raises(HttpResponseError) as err:
                call(rg, "big", _body(tpl, arm_factory_name)).result()
            assert err.value.status_code == 400 and err.value.error.code == "InvalidTemplate"
            assert limit in err.value.error.message
    ok = client.deployments.begin_validate(rg, "v", _body(TEMPLATE, arm_factory_name)).result()
    assert ok.properties.provisioning_state == "Succeeded" and len(ok.properties.validated_resources) == 4
    assert arm_standin.names(arm_factory_name, "pipelines") == []  # validation changes nothing

    arm_standin.slow_deployment("slow", 60.0)
    client.deployments.begin_create_or_update(rg, "slow", _body(TEMPLATE, arm_factory_name), polling=False)
    assert client.deployments.get(rg, "slow").properties.provisioning_state == "Running"
    client.deployments.cancel(rg, "slow")
    assert client.deployments.get(rg, "slow").properties.provisioning_state == "Canceled"
    with pytest.raises(HttpResponseError) as err:
        client.deployments.cancel(rg, "slow")
    assert err.value.status_code == 409 and err.value.error.code == "DeploymentCannotBeCancelled"
    assert arm_standin.names(arm_factory_name, "pipelines") == []

    arm_standin.fail_object(arm_factory_name, "pipelines", "PL_Copy", "BadRequest", "injected")
    with pytest.raises(HttpResponseError):
        client.deployments.begin_create_or_update(rg, "ops", _body(TEMPLATE, arm_factory_name)).result()
    ops = {o.properties.target_resource.resource_name: o.properties
           for o in client.deployment_operations.list(rg, "ops")}
    assert ops[f"{arm_factory_name}/PL_Copy"].provisioning_state == "Failed"
    assert ops[f"{arm_factory_name}/DS_In"].provisioning_state == "Succeeded"
    assert f"{arm_factory_name}/TR_Hourly" not in ops  # depends on the failed pipeline: not attempted
