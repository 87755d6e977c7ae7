"""A generated factory of any size, laid out as ADF's Git integration writes it (benchmarks and tests)."""

from __future__ import annotations

import json


def generate_factory(n_objects: int, root: str = "", factory: str = "synthetic-df") -> dict[str, bytes]:
    """About ``n_objects`` objects: linked services, datasets, pipelines calling each other, triggers."""
    prefix = root.strip("/") + "/" if root.strip("/") else ""
    files: dict[str, bytes] = {}

    def put(path: str, doc: dict[str, object]) -> None:
        files[prefix + path] = json.dumps(doc, indent="\t").encode()

    n_ls = max(1, n_objects // 20)
    n_ds = max(1, n_objects * 2 // 5)
    n_tr = max(1, n_objects // 20)
    n_pl = max(1, n_objects - n_ls - n_ds - n_tr - 1)
    put(f"factory/{factory}.json", {"name": factory, "location": "westeurope",
                                    "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
                                    "properties": {"globalParameters": {"env": {"type": "string", "value": "dev"}}}})
    put("integrationRuntime/shir.json", {"name": "shir", "properties": {"type": "SelfHosted"}})
    for i in range(n_ls):
        put(f"linkedService/ls_{i}.json", {
            "name": f"ls_{i}", "type": "Microsoft.DataFactory/factories/linkedservices",
            "properties": {"annotations": [], "type": "AzureSqlDatabase", "typeProperties": {
                "server": f"srv{i}.database.windows.net", "database": f"db{i}", "authenticationType": "SQL",
                "userName": "loader", "encryptedCredential": "ZW5jcnlwdGVk"},
                "connectVia": {"referenceName": "shir", "type": "IntegrationRuntimeReference"}}})
    for i in range(n_ds):
        put(f"dataset/ds_{i}.json", {
            "name": f"ds_{i}", "type": "Microsoft.DataFactory/factories/datasets",
            "properties": {"linkedServiceName": {"referenceName": f"ls_{i % n_ls}", "type": "LinkedServiceReference"},
                           "annotations": [], "type": "AzureSqlTable",
                           "typeProperties": {"schema": "dbo", "table": f"[t_{i}]"}}})
    for i in range(n_pl):
        acts: list[dict[str, object]] = [{
            "name": "copy", "type": "Copy", "dependsOn": [],
            "typeProperties": {"source": {"type": "AzureSqlSource", "sqlReaderQuery": "select * from [dbo].[x]"},
                               "sink": {"type": "AzureSqlSink", "preCopyScript": "@{pipeline().parameters.p}"}},
            "inputs": [{"referenceName": f"ds_{(2 * i) % n_ds}", "type": "DatasetReference"}],
            "outputs": [{"referenceName": f"ds_{(2 * i + 1) % n_ds}", "type": "DatasetReference"}]}]
        if i:
            acts.append({"name": "child", "type": "ExecutePipeline", "dependsOn": [],
                         "typeProperties": {"pipeline": {"referenceName": f"pl_{i // 2}", "type": "PipelineReference"},
                                            "waitOnCompletion": True}})
        put(f"pipeline/pl_{i}.json", {"name": f"pl_{i}", "type": "Microsoft.DataFactory/factories/pipelines",
                                      "properties": {"activities": acts, "parameters": {
                                          "p": {"type": "string", "defaultValue": "x"}}, "annotations": []}})
    for i in range(n_tr):
        put(f"trigger/tr_{i}.json", {
            "name": f"tr_{i}", "properties": {
                "annotations": [], "runtimeState": "Started",
                "pipelines": [{"pipelineReference": {"referenceName": f"pl_{i % n_pl}", "type": "PipelineReference"},
                               "parameters": {"p": f"run{i}"}}],
                "type": "ScheduleTrigger",
                "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1,
                                                  "startTime": "2024-01-01T00:00:00Z", "timeZone": "UTC"}}}})
    files[prefix + "publish_config.json"] = b'{"publishBranch":"adf_publish"}'
    return files
