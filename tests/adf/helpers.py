"""Small publish outputs written by the tests, and corpus loading (never copied into the repo)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.git.snapshot import CommitSnapshot

# the corpus factories (folder, adf.factory_dir)
CORPUS_FACTORIES = [
    ("KranioIO-repo-shared", ""),
    ("Terminator-Aaron-adf_publish", ""),
    ("alesaez-adf-cicd", ""),
    ("alesaez-adf-cicd", "asa-NPRD-dev-df"),
    ("devlace-datadevops", "ddodfdev"),
    ("devlace-datadevops", "lacecicddf"),
    ("josefineselke-Covid-Reporting-Course-Examples", ""),
]


def corpus_snapshot(root: Path, sha: str = "c0ffee" * 6 + "abcd") -> CommitSnapshot:
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return CommitSnapshot(sha, files, ref="refs/heads/adf_publish")


def res(kind: str, name: str, props: dict[str, Any], depends: list[str] | None = None) -> dict[str, Any]:
    return {"name": f"[concat(parameters('factoryName'), '/{name}')]",
            "type": f"Microsoft.DataFactory/factories/{kind}", "apiVersion": "2018-06-01",
            "properties": props, "dependsOn": depends or []}


def schedule_trigger(pipeline: str, hours: int = 1, state: str = "Started",
                     params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"annotations": [], "runtimeState": state,
            "pipelines": [{"pipelineReference": {"referenceName": pipeline, "type": "PipelineReference"},
                           "parameters": params or {}}],
            "type": "ScheduleTrigger",
            "typeProperties": {"recurrence": {"frequency": "Hour", "interval": hours,
                                              "startTime": "2024-01-01T00:00:00Z", "timeZone": "UTC"}}}


def tumbling_trigger(pipeline: str, frequency: str = "Hour", interval: int = 1, depends_on: list[str] = (),
                     state: str = "Started") -> dict[str, Any]:
    return {"annotations": [], "runtimeState": state,
            "pipeline": {"pipelineReference": {"referenceName": pipeline, "type": "PipelineReference"},
                         "parameters": {}},
            "type": "TumblingWindowTrigger",
            "typeProperties": {"frequency": frequency, "interval": interval, "startTime": "2024-01-01T00:00:00Z",
                               "delay": "00:00:00", "maxConcurrency": 1,
                               "dependsOn": [{"type": "TumblingWindowTriggerDependencyReference",
                                              "referenceTrigger": {"referenceName": d, "type": "TriggerReference"},
                                              "offset": "-01:00:00", "size": "01:00:00"} for d in depends_on]}}


def blob_event_trigger(pipeline: str, state: str = "Started") -> dict[str, Any]:
    return {"annotations": [], "runtimeState": state,
            "pipelines": [{"pipelineReference": {"referenceName": pipeline, "type": "PipelineReference"},
                           "parameters": {}}],
            "type": "BlobEventsTrigger",
            "typeProperties": {"blobPathBeginsWith": "/raw/blobs/", "ignoreEmptyBlobs": True,
                               "scope": "[parameters('storageScope')]", "events": ["Microsoft.Storage.BlobCreated"]}}


def pipeline(activities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"activities": activities or [{"name": "Wait1", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}],
            "annotations": []}


def execute_pipeline(callee: str) -> dict[str, Any]:
    return pipeline([{"name": f"Run {callee}", "type": "ExecutePipeline",
                      "typeProperties": {"pipeline": {"referenceName": callee, "type": "PipelineReference"},
                                         "waitOnCompletion": True}}])


def copy_pipeline(dataset: str) -> dict[str, Any]:
    return pipeline([{"name": "Lookup", "type": "Lookup", "typeProperties": {
        "source": {"type": "DelimitedTextSource"},
        "dataset": {"referenceName": dataset, "type": "DatasetReference"}}}])


def linked_service_kv() -> dict[str, Any]:
    return {"annotations": [], "type": "AzureKeyVault",
            "typeProperties": {"baseUrl": "[parameters('kv_baseUrl')]"}}


def linked_service_blob() -> dict[str, Any]:
    return {"annotations": [], "type": "AzureBlobStorage",
            "typeProperties": {"connectionString": {"type": "AzureKeyVaultSecret", "store": {
                "referenceName": "ls_kv", "type": "LinkedServiceReference"}, "secretName": "blob"},
                "sasToken": "[parameters('ls_blob_sasToken')]"}}


def dataset(ls: str = "ls_blob") -> dict[str, Any]:
    return {"linkedServiceName": {"referenceName": ls, "type": "LinkedServiceReference"}, "annotations": [],
            "type": "DelimitedText", "typeProperties": {"location": {"type": "AzureBlobStorageLocation",
                                                                     "container": "raw"}}, "schema": []}


def template(resources: list[dict[str, Any]], extra_params: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {"factoryName": {"type": "string", "defaultValue": "dev-factory"},
              "kv_baseUrl": {"type": "string", "defaultValue": "https://kv-dev.vault.azure.net/"},
              "ls_blob_sasToken": {"type": "secureString"},
              "storageScope": {"type": "string", "defaultValue": "/subscriptions/x/storageAccounts/dev"}}
    params.update(extra_params or {})
    return {"$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0", "parameters": params,
            "variables": {"factoryId": "[concat('Microsoft.DataFactory/factories/', parameters('factoryName'))]"},
            "resources": resources}


def base_resources() -> list[dict[str, Any]]:
    """A small factory: Key Vault + blob linked services, a dataset, pipelines calling each other, triggers."""
    return [
        res("linkedServices", "ls_kv", linked_service_kv()),
        res("linkedServices", "ls_blob", linked_service_blob(),
            ["[concat(variables('factoryId'), '/linkedServices/ls_kv')]"]),
        res("datasets", "ds_raw", dataset(), ["[concat(variables('factoryId'), '/linkedServices/ls_blob')]"]),
        res("pipelines", "pl_child", copy_pipeline("ds_raw"), ["[concat(variables('factoryId'), '/datasets/ds_raw')]"]),
        res("pipelines", "pl_parent", execute_pipeline("pl_child"),
            ["[concat(variables('factoryId'), '/pipelines/pl_child')]"]),
        res("triggers", "tr_hourly", schedule_trigger("pl_parent"),
            ["[concat(variables('factoryId'), '/pipelines/pl_parent')]"]),
        res("triggers", "tr_daily", schedule_trigger("pl_parent", 24, params={"mode": "full", "days": [1, 2]}),
            ["[concat(variables('factoryId'), '/pipelines/pl_parent')]"]),
        res("triggers", "tr_paused", schedule_trigger("pl_child", 2, state="Stopped"),
            ["[concat(variables('factoryId'), '/pipelines/pl_child')]"]),
    ]


def snapshot_of(tpl: dict[str, Any], sha: str = "1" * 40, folder: str = "",
                params_file: dict[str, Any] | None = None, extra: dict[str, bytes] | None = None,
                name: str = "ARMTemplateForFactory.json") -> CommitSnapshot:
    prefix = f"{folder}/" if folder else ""
    files = {f"{prefix}{name}": json.dumps(tpl).encode()}
    if params_file is not None:
        files[f"{prefix}ARMTemplateParametersForFactory.json"] = json.dumps(params_file).encode()
    files.update(extra or {})
    return CommitSnapshot(sha, files, ref="refs/heads/adf_publish")


def sched(plan: Any) -> dict[str, Any]:
    """The plan's apply schedule as JSON, checked to read back into the same typed schedule."""
    from shared.adf.plan import ApplySchedule

    data = plan.data["schedule"]
    assert ApplySchedule.from_json(json.loads(json.dumps(data))).to_json() == data
    return data


def linked_layout(tpl: dict[str, Any], per_child: int = 20, factory: str = "dev-factory",
                  folder: str = "linkedTemplates") -> dict[str, bytes]:
    """The publish output as ADF lays out a large factory: ``ArmTemplate_master.json`` chaining children of
    ``per_child`` resources (in the template's order) by ``dependsOn``; each child declares the parameters it
    uses and keeps only the ``dependsOn`` inside itself (ARM cannot depend on another template's resources);
    the master passes each child its parameters and has ``containerUri``/``containerSasToken``."""
    resources = tpl["resources"]
    chunks = [resources[i:i + per_child] for i in range(0, len(resources), per_child)]
    master_res, files = [], {}
    for i, chunk in enumerate(chunks):
        text = json.dumps(chunk)
        used = {p: d for p, d in tpl["parameters"].items() if p == "factoryName" or f"parameters('{p}')" in text}
        inside = {json.dumps(r["name"]).split("/")[-1].rstrip("')]\"") for r in chunk}
        kept = [{**r, "dependsOn": [d for d in r.get("dependsOn", []) if d.split("/")[-1].rstrip("')]") in inside]}
                for r in chunk]
        child = {"$schema": tpl["$schema"], "contentVersion": "1.0.0.0", "parameters": used,
                 "variables": tpl.get("variables", {}), "resources": kept}
        files[f"{folder}/ArmTemplate_{i}.json"] = json.dumps(child).encode()
        master_res.append({"name": f"{factory}_ArmTemplate_{i}", "type": "Microsoft.Resources/deployments",
                           "apiVersion": "2018-02-01", "properties": {
                               "mode": "incremental",
                               "templateLink": {"uri": f"[concat(parameters('containerUri'), '/ArmTemplate_{i}.json', "
                                                       "parameters('containerSasToken'))]", "contentVersion": "1.0.0.0"},
                               "parameters": {p: {"value": f"[parameters('{p}')]"} for p in used}},
                           "dependsOn": [f"[resourceId('Microsoft.Resources/deployments', '{factory}_ArmTemplate_{i - 1}')]"]
                           if i else []})
    master = {"$schema": tpl["$schema"], "contentVersion": "1.0.0.0",
              "parameters": {**tpl["parameters"], "containerUri": {"type": "string"},
                             "containerSasToken": {"type": "string"}},
              "variables": {}, "resources": master_res}
    files[f"{folder}/ArmTemplate_master.json"] = json.dumps(master).encode()
    files[f"{folder}/ArmTemplateParameters_master.json"] = json.dumps(
        {"$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#",
         "contentVersion": "1.0.0.0", "parameters": {"containerUri": {"value": ""},
                                                      "containerSasToken": {"value": ""}}}).encode()
    return files


def large_publish_output(n_objects: int, factory: str = "synthetic-df") -> dict[str, bytes]:
    """A generated factory's publish branch as ADF writes it: the full template (over ARM's limits when
    large), its parameters and ``linkedTemplates/`` (master + children of ADF's chunk size)."""
    from shared.adf.build.builder import FULL_PARAMETERS, FULL_TEMPLATE, build_factory
    from shared.adf.build.synthetic import generate_factory

    result = build_factory(generate_factory(n_objects, factory=factory), "", factory)
    files = {FULL_TEMPLATE: json.dumps(result.template).encode(),
             FULL_PARAMETERS: json.dumps(result.parameters).encode()}
    files.update({f"linkedTemplates/{n}": json.dumps(d).encode() for n, d in result.linked.items()})
    return files
