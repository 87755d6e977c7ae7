"""Building ARM templates from factory JSON, checked against ADF's own Publish output (the corpus pairs)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adf.build import FactoryValidationError, build_factory, validate_factory
from shared.adf.build.builder import FACTORY_DEP, LINKED_CHUNK, _self_ref
from shared.adf.build.compare import compare_parameters, compare_templates, normalize
from shared.adf.build.synthetic import generate_factory

PAIRS = ["alesaez-adf-cicd-8c41112", "alesaez-adf-cicd-e38e0df", "bjarkiek-Algalif-c0e84e2",
         "caiobelfort-azure-data-factory-85aa7d4", "devlace-datadevops-fe8b60f", "emc2e1tcct-MC2DataLake-6eae3d9",
         "emc2e1tcct-MC2DataLake-7ee364c", "hmcts-vh-reports-faaff34", "juggehassel-adf-2130ebf",
         "mutazag-adf-ab5d4f0", "rvpisal-AzureDP203-8d37071"]

# Differences that no rule can derive from the commit: ADF published its in-browser state, which differed.
KNOWN = {
    "emc2e1tcct-MC2DataLake-6eae3d9": [
        # the committed linked service references nothing, ADF's output still depends on a Key Vault
        "[concat(parameters('factoryName'), '/AzureDataLakeStorageGen2')]: dependsOn extra [] missing "
        "[\"[concat(variables('factoryId'), '/linkedServices/MC2AzureKeyVault')]\"]"],
    "emc2e1tcct-MC2DataLake-7ee364c": [
        # the published default array has an element the committed pipeline does not
        "[concat(parameters('factoryName'), '/CopyPrincipalesE3ToBronze')].properties.parameters."
        "cw_items_PrincipalesE3.defaultValue:"],
}


def _load(p: Path) -> Any:
    return json.loads(p.read_text(encoding="utf-8-sig"))


def _pair_files(pair_dir: Path, root: str) -> dict[str, bytes]:
    collab = pair_dir / "collaboration"
    prefix = root.strip("/") + "/" if root.strip("/") else ""
    return {prefix + p.relative_to(collab).as_posix(): p.read_bytes() for p in collab.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", PAIRS)
def test_corpus_pair_builds_what_adf_published(corpus: Path, name: str) -> None:
    pair_dir = corpus / "adf-source" / name
    pair = _load(pair_dir / "pair.json")
    root = pair.get("repo_root_folder", "/")
    result = build_factory(_pair_files(pair_dir, root), root, pair["publish_factory_folder"])
    pub = pair_dir / "publish"

    diffs = compare_templates(result.template, _load(pub / "ARMTemplateForFactory.json"))
    unexplained = [d for d in diffs if not any(d.startswith(k) for k in KNOWN.get(name, []))]
    assert unexplained == []
    assert len(diffs) == len(KNOWN.get(name, []))  # a known difference that went away must be removed

    values = normalize(_load(pub / "ARMTemplateParametersForFactory.json")["parameters"])
    assert normalize(result.parameters["parameters"]) == values

    gp_files = sorted((pub / "globalParameters").glob("*.json")) if (pub / "globalParameters").is_dir() else []
    built_gp = {k: v for k, v in result.files().items() if k.startswith("globalParameters/")}
    assert sorted(built_gp) == [f"globalParameters/{p.name}" for p in gp_files]
    for p in gp_files:
        assert built_gp[f"globalParameters/{p.name}"] == _load(p)

    # linked templates: same master parameters, chained children of LINKED_CHUNK that together are the template
    master = _load(pub / "linkedTemplates" / "ArmTemplate_master.json")
    ours = result.linked["ArmTemplate_master.json"]
    assert compare_parameters(ours["parameters"], master["parameters"]) == []
    master_values = _load(pub / "linkedTemplates" / "ArmTemplateParameters_master.json")["parameters"]
    assert normalize(result.linked["ArmTemplateParameters_master.json"]["parameters"]) == normalize(master_values)
    assert len(ours["resources"]) == len(master["resources"]) == math.ceil(len(result.template["resources"])
                                                                            / LINKED_CHUNK)
    _check_linked(result.linked, result.template)


def _check_linked(linked: dict[str, Any], template: dict[str, Any]) -> None:
    master = linked["ArmTemplate_master.json"]
    by_name = {(x["type"], x["name"]): x for x in template["resources"]}
    seen: set[str] = set()
    children: list[dict[str, Any]] = []
    for i, dep in enumerate(master["resources"]):
        assert dep["type"] == "Microsoft.Resources/deployments"
        assert f"/ArmTemplate_{i}.json" in dep["properties"]["templateLink"]["uri"]
        assert dep["dependsOn"] == ([f"[resourceId('Microsoft.Resources/deployments', "
                                     f"'{master['resources'][i - 1]['name']}')]"] if i else [])
        child = linked[f"ArmTemplate_{i}.json"]
        assert set(dep["properties"]["parameters"]) == set(child["parameters"])
        assert len(child["resources"]) <= LINKED_CHUNK
        here = {_self_ref(r) for r in child["resources"]}
        for r in child["resources"]:
            full = by_name[(r["type"], r["name"])]
            for d in full.get("dependsOn") or []:  # every dependency is deployed by now or in this child
                assert d == FACTORY_DEP or d in seen or d in here, (r["name"], d)
            assert set(r["dependsOn"]) <= here
        seen |= here
        children.extend(child["resources"])
    strip = [{k: v for k, v in r.items() if k != "dependsOn"} for r in template["resources"]]
    assert sorted(json.dumps(normalize({k: v for k, v in r.items() if k != "dependsOn"}), sort_keys=True)
                  for r in children) == sorted(json.dumps(normalize(r), sort_keys=True) for r in strip)


def _obj(kind: str, name: str, props: dict[str, Any]) -> tuple[str, bytes]:
    return f"{kind}/{name}.json", json.dumps({"name": name, "properties": props}).encode()


def _small_factory() -> dict[str, bytes]:
    return dict([
        _obj("linkedService", "ls", {"type": "AzureBlobFS", "typeProperties": {"url": "https://a.dfs.core.windows.net"}}),
        _obj("dataset", "ds", {"type": "Parquet", "linkedServiceName": {"referenceName": "ls",
                                                                         "type": "LinkedServiceReference"},
                               "typeProperties": {"location": {"type": "AzureBlobFSLocation", "fileSystem": "raw"}}}),
        _obj("pipeline", "pl", {"activities": [{"name": "q", "type": "Lookup", "typeProperties": {
            "source": {"type": "AzureSqlSource", "sqlReaderQuery": "[dbo].[proc]"},
            "dataset": {"referenceName": "ds", "type": "DatasetReference"}}}]}),
    ])


def test_validation_names_file_and_json_path() -> None:
    files = _small_factory()
    files["pipeline/broken.json"] = b'{"name": "broken", "properties": {'
    files["dataset/DS.json"] = json.dumps({"name": "DS", "properties": {"type": "Json"}}).encode()
    files["pipeline/pl2.json"] = json.dumps({"name": "pl2", "properties": {"activities": [
        {"name": "x", "type": "ExecutePipeline", "typeProperties": {
            "pipeline": {"referenceName": "nope", "type": "PipelineReference"}}}]}}).encode()
    files["pipelines/stray.json"] = json.dumps({"name": "stray", "properties": {"activities": []}}).encode()
    problems = {(p.code, p.file, p.path) for p in validate_factory(files)}
    assert ("invalid_json", "pipeline/broken.json", "$") in problems
    assert ("duplicate_name", "dataset/ds.json", "$.name") in problems or \
        ("duplicate_name", "dataset/DS.json", "$.name") in problems
    assert ("missing_reference", "pipeline/pl2.json",
            "$.properties.activities[0].typeProperties.pipeline") in problems
    assert ("unknown_folder", "pipelines/stray.json", "$") in problems
    with pytest.raises(FactoryValidationError) as exc:
        build_factory(files)
    assert len(exc.value.details) == len(problems)
    assert "pipeline/pl2.json: $.properties.activities[0].typeProperties.pipeline" in exc.value.message


def test_definition_that_matches_nothing_is_an_error() -> None:
    files = _small_factory()
    files["arm-template-parameters-definition.json"] = json.dumps({
        "Microsoft.DataFactory/factories/pipeline": {"properties": {"description": "="}},
        "Microsoft.DataFactory/factories/datasets": {"*": {"properties": {"typeProperties": {"x": "?"}}}},
    }).encode()
    problems = {(p.code, p.path) for p in validate_factory(files)}
    assert ("definition_matches_nothing", "$['Microsoft.DataFactory/factories/pipeline']") in problems
    assert ("invalid_definition", "$['Microsoft.DataFactory/factories/datasets'].*.properties.typeProperties.x") \
        in problems


def test_custom_definition_syntax() -> None:
    files = _small_factory()
    files["trigger/t.json"] = json.dumps({"name": "t", "properties": {
        "type": "ScheduleTrigger", "pipelines": [
            {"pipelineReference": {"referenceName": "pl", "type": "PipelineReference"}, "parameters": {"a": 1}}],
        "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 2, "timeZone": "UTC"}}}}).encode()
    files["arm-template-parameters-definition.json"] = json.dumps({
        "Microsoft.DataFactory/factories/triggers": {"properties": {
            "pipelines": [{"parameters": {"*": "-"}}, "pipelineReference.referenceName"],
            "typeProperties": {"recurrence": {"*": "=", "interval": "=:every:int", "frequency": "-:-freq"}}}},
        "Microsoft.DataFactory/factories/linkedServices": {"AzureBlobFS": {"properties": {
            "typeProperties": {"url": "|:-url:secureString"}}}},
        "Microsoft.DataFactory/factories/pipelines": {"properties": {"activities": [{"typeProperties": {
            "source": {"sqlReaderQuery": "=::string"}}}]}},
    }).encode()
    result = build_factory(files, factory_name="f1")
    params = result.template["parameters"]
    assert params["factoryName"] == {"type": "string", "metadata": "Data Factory name", "defaultValue": "f1"}
    assert params["t_properties_pl_parameters_a"] == {"type": "int"}  # '-': no default, type from the value
    assert params["t_properties_typeProperties_recurrence_every"] == {"type": "int", "defaultValue": 2}
    assert params["t_freq"] == {"type": "string"}
    assert params["t_properties_typeProperties_recurrence_timeZone"]["defaultValue"] == "UTC"
    assert params["ls_url"]["type"] == "secureString"
    assert params["ls_url"]["defaultValue"] == "https://a.dfs.core.windows.net"
    # a literal leading [ is escaped as ADF does, in the resource and in the parameter default
    assert params["pl_properties_0_typeProperties_source_sqlReaderQuery"]["defaultValue"] == "[[dbo].[proc]"
    trigger = next(r for r in result.template["resources"] if r["type"].endswith("/triggers"))
    assert trigger["properties"]["pipelines"][0]["parameters"]["a"] == "[parameters('t_properties_pl_parameters_a')]"
    assert trigger["dependsOn"] == ["[concat(variables('factoryId'), '/pipelines/pl')]"]
    assert result.parameters["parameters"]["t_freq"] == {"value": ""}
    assert result.warnings == []
    files["arm-template-parameters-definition.json"] = json.dumps({
        "Microsoft.DataFactory/factories/credentials": {"properties": {"typeProperties": {"resourceId": "="}}},
        "Microsoft.DataFactory/factories/linkedServices": {"AzureBlobFS": {"properties": {
            "typeProperties": {"url": "="}}}, "Odbc": {"properties": {"typeProperties": {"userName": "="}}}},
    }).encode()
    warned = build_factory(files).warnings  # matches no object now: built, with a warning naming the entry
    assert [(w.code, w.path) for w in warned] == [
        ("definition_unused", "$['Microsoft.DataFactory/factories/credentials']"),
        ("definition_unused", "$['Microsoft.DataFactory/factories/linkedServices'].Odbc")]


def test_encrypted_secret_becomes_secure_parameter_without_default() -> None:
    files = dict([_obj("linkedService", "sql", {"type": "AzureSqlDatabase", "typeProperties": {
        "server": "s", "database": "d", "authenticationType": "SQL", "userName": "u", "tenant": "",
        "encryptedCredential": "eyJ4IjoxfQ=="}})])
    result = build_factory(files)
    ls = result.template["resources"][0]
    assert ls["properties"]["typeProperties"]["password"] == {"type": "SecureString",
                                                             "value": "[parameters('sql_password')]"}
    assert "encryptedCredential" not in ls["properties"]["typeProperties"]
    assert "tenant" not in ls["properties"]["typeProperties"]
    assert result.template["parameters"]["sql_password"] == {
        "type": "secureString", "metadata": "Secure string for 'password' of 'sql'"}
    assert result.template["parameters"]["factoryName"] == {"type": "string", "metadata": "Data Factory name"}


def test_generated_factory_of_1000_objects_links_in_dependency_order() -> None:
    files = generate_factory(1000, root="ADF")
    result = build_factory(files, "ADF")
    n = len(result.template["resources"])
    assert n >= 1000
    assert len(result.linked) == math.ceil(n / LINKED_CHUNK) + 2
    _check_linked(result.linked, result.template)
    assert result.global_parameters == {"env": {"type": "string", "value": "dev"}}
    assert result.needs_linked  # over ARM's 800 resources: only the linked templates can deploy
    assert result.summary().endswith("linked templates needed (1000 resources > 800)")
    assert result.summary().startswith("factory synthetic-df: 400 datasets, 1 integrationRuntimes, 50 linkedServices")
    small = build_factory(generate_factory(100))
    assert not small.needs_linked and small.summary().endswith("linked templates not needed")


def test_cli_build_and_validate_from_a_git_commit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shared.cli import main
    from tests.deploy.helpers import LocalRepo

    repo = LocalRepo(tmp_path / "repo")
    good = {f"ADF/{k}": v.decode() for k, v in _small_factory().items()}
    good["ADF/factory/f1.json"] = json.dumps({"name": "f1", "location": "westeurope"})
    good["README.md"] = "not ADF"
    sha = repo.commit(good)
    out = tmp_path / "out"
    assert main(["adf", "build", "--repo", str(repo.path), "--root", "ADF", "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"factory f1: 1 datasets, 1 linkedServices, 1 pipelines; 2 parameters, 3 resources, 1 linked "
                    f"template; linked templates not needed (commit {sha[:12]})")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json")) == [
        "ARMTemplateForFactory.json", "ARMTemplateParametersForFactory.json", "globalParameters/f1_GlobalParameters.json",
        "linkedTemplates/ArmTemplateParameters_master.json", "linkedTemplates/ArmTemplate_0.json",
        "linkedTemplates/ArmTemplate_master.json"]
    built = json.loads((out / "ARMTemplateForFactory.json").read_text())
    assert built["parameters"]["factoryName"]["defaultValue"] == "f1"

    assert main(["adf", "validate", "--repo", str(repo.path), "--root", "ADF", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    bad = repo.commit({"ADF/dataset/ds2.json": json.dumps({"name": "ds2", "properties": {
        "type": "Json", "linkedServiceName": {"referenceName": "missing_ls", "type": "LinkedServiceReference"}}})})
    assert main(["adf", "validate", "--repo", str(repo.path), "--root", "ADF", "--ref", bad]) == 1
    text = capsys.readouterr().out
    assert ("ADF/dataset/ds2.json: $.properties.linkedServiceName: dataset 'ds2' references linkedService "
            "'missing_ls', which does not exist [missing_reference]") in text
    out2 = tmp_path / "out2"
    assert main(["adf", "build", "--repo", str(repo.path), "--root", "ADF", "--out", str(out2)]) == 2
    assert not out2.exists()  # nothing written
    assert "invalid_factory" in capsys.readouterr().err


def test_objects_in_subfolders_and_parameter_overflow_are_named() -> None:
    files = _small_factory()
    files["pipeline/old/pl_x.json"] = json.dumps({"name": "pl_x", "properties": {"activities": []}}).encode()
    assert [(p.code, p.file) for p in validate_factory(files)] == [("unknown_folder", "pipeline/old/pl_x.json")]
    many = {f"linkedService/ls{i}.json": json.dumps({"name": f"ls{i}", "properties": {
        "type": "AzureBlobFS", "typeProperties": {"url": f"https://a{i}.dfs.core.windows.net"}}}).encode()
        for i in range(300)}
    result = build_factory(many)
    assert result.too_many_parameters and not result.needs_linked
    assert result.summary().endswith("301 parameters > 256: reduce them with arm-template-parameters-definition.json")


_json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
                               st.sampled_from(["name", "type", "referenceName", "properties", "typeProperties",
                                                "value", "x"]), kids, max_size=4), max_leaves=12)
_folders = st.sampled_from(["pipeline", "dataset", "linkedService", "trigger", "dataflow", "integrationRuntime",
                            "credential", "factory", "managedVirtualNetwork", "managedVirtualNetwork/default/"
                            "managedPrivateEndpoint", "other", ""])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_folders, st.text("abAB_'[] ", min_size=1, max_size=6), _json_value), max_size=6),
       st.one_of(st.none(), _json_value))
def test_any_input_builds_or_fails_with_problems(objs: list[tuple[str, str, Any]], definition: Any) -> None:
    files = {f"{folder}/{name}.json".lstrip("/"): json.dumps({"name": name, "properties": body}
                                                             if isinstance(body, dict) else body).encode()
             for folder, name, body in objs}
    if definition is not None:
        files["arm-template-parameters-definition.json"] = json.dumps(definition).encode()
    try:
        result = build_factory(files)
    except FactoryValidationError as exc:
        assert exc.details and all(d["file"] and d["path"].startswith("$") for d in exc.details)
        return
    json.dumps(result.files())  # what it built serializes
    _check_linked(result.linked, result.template)


def test_circular_references_are_named_and_long_chains_link() -> None:
    def pl(i: int, target: int | None) -> tuple[str, bytes]:
        acts = [] if target is None else [{"name": "c", "type": "ExecutePipeline", "typeProperties": {
            "pipeline": {"referenceName": f"p{target}", "type": "PipelineReference"}}}]
        return f"pipeline/p{i}.json", json.dumps({"name": f"p{i}", "properties": {"activities": acts}}).encode()

    chain = dict(pl(i, i + 1 if i < 1099 else None) for i in range(1100))  # deeper than Python's recursion limit
    result = build_factory(chain)
    _check_linked(result.linked, result.template)
    chain.update([pl(1099, 1097)])
    problems = validate_factory(chain)
    assert [(p.code, p.file, p.path) for p in problems] == [
        ("circular_reference", "pipeline/p1097.json", "$.properties.activities[0].typeProperties.pipeline")]
    assert "pipeline 'p1097' -> pipeline 'p1098' -> pipeline 'p1099' -> pipeline 'p1097'" in problems[0].message


def test_every_object_folder_builds_with_its_references() -> None:
    files = dict([
        _obj("credential", "uami", {"type": "ManagedIdentity", "typeProperties": {"resourceId": "/subs/x/uami"}}),
        _obj("linkedService", "kv", {"type": "AzureKeyVault", "typeProperties": {
            "baseUrl": "https://kv.vault.azure.net/", "credential": {"referenceName": "uami",
                                                                    "type": "CredentialReference"}}}),
        _obj("linkedService", "sql", {"type": "AzureSqlDatabase", "connectVia": {
            "referenceName": "shared-shir", "type": "IntegrationRuntimeReference"}, "typeProperties": {
            "connectionString": {"type": "AzureKeyVaultSecret", "secretName": "sql-cs",
                                 "store": {"referenceName": "kv", "type": "LinkedServiceReference"}}}}),
        _obj("integrationRuntime", "shared-shir", {"type": "SelfHosted", "typeProperties": {"linkedInfo": {
            "resourceId": "/subs/x/factories/hub/integrationruntimes/shir", "authorizationType": "Rbac"}}}),
        _obj("integrationRuntime", "managed", {"type": "Managed", "managedVirtualNetwork": {
            "referenceName": "default", "type": "ManagedVirtualNetworkReference"}, "typeProperties": {}}),
        ("managedVirtualNetwork/default.json", json.dumps({"name": "default", "properties": {}}).encode()),
        ("managedVirtualNetwork/default/managedPrivateEndpoint/pe-sql.json", json.dumps({"name": "pe-sql",
            "properties": {"privateLinkResourceId": "/subs/x/sql", "groupId": "sqlServer"}}).encode()),
        _obj("dataset", "ds", {"type": "AzureSqlTable", "linkedServiceName": {
            "referenceName": "sql", "type": "LinkedServiceReference"}, "typeProperties": {"table": "t"}}),
        _obj("dataflow", "fl", {"type": "Flowlet", "typeProperties": {"sources": [], "sinks": [], "script": ""}}),
        _obj("dataflow", "df", {"type": "MappingDataFlow", "typeProperties": {
            "sources": [{"name": "src", "dataset": {"referenceName": "ds", "type": "DatasetReference"}}],
            "transformations": [{"name": "f", "flowlet": {"referenceName": "fl", "type": "DataFlowReference"}}],
            "script": "src select(mapColumn(id = id, name2 = name)) ~> s"}}),
        _obj("adfcdc", "cdc", {"SourceConnectionsInfo": [{"Connection": {"linkedService": {
            "referenceName": "sql", "type": "LinkedServiceReference"}}}], "TargetConnectionsInfo": []}),
    ])
    result = build_factory(files, factory_name="f")
    by_name = {r["name"].split("'/")[-1][:-3]: r for r in result.template["resources"]}
    dep = "[concat(variables('factoryId'), '/{}')]".format
    assert by_name["kv"]["dependsOn"] == [dep("credentials/uami")]
    assert set(by_name["sql"]["dependsOn"]) == {dep("integrationRuntimes/shared-shir"), dep("linkedServices/kv")}
    assert by_name["managed"]["dependsOn"] == [dep("managedVirtualNetworks/default")]
    assert by_name["default/pe-sql"]["type"].endswith("/managedVirtualNetworks/managedPrivateEndpoints")
    assert by_name["default/pe-sql"]["dependsOn"] == [dep("managedVirtualNetworks/default")]
    assert set(by_name["df"]["dependsOn"]) == {dep("datasets/ds"), dep("dataflows/fl")}
    assert by_name["df"]["properties"]["typeProperties"]["script"] == "src select(mapColumn(id, name2 = name)) ~> s"
    assert by_name["cdc"]["type"] == "Microsoft.DataFactory/factories/adfcdcs"
    assert by_name["cdc"]["dependsOn"] == [dep("linkedServices/sql")]
    params = result.template["parameters"]
    assert params["shared-shir_properties_typeProperties_linkedInfo_resourceId"]["defaultValue"].endswith("/shir")
    assert params["sql_properties_typeProperties_connectionString_secretName"] == {"type": "string",
                                                                                   "defaultValue": "sql-cs"}
    assert params["pe-sql_properties_groupId"] == {"type": "string", "defaultValue": "sqlServer"}
    assert "uami_properties_typeProperties_resourceId" not in params  # credentials: not in the default template
    _check_linked(result.linked, result.template)


def test_cli_build_compares_with_adfs_publish_output(corpus: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from shared.cli import main

    same = corpus / "adf-source" / "hmcts-vh-reports-faaff34"
    assert main(["adf", "build", "--repo", str(same / "collaboration"), "--out", str(tmp_path / "a"),
                 "--compare", str(same / "publish")]) == 0
    assert capsys.readouterr().out.strip().endswith(f"same as {same / 'publish'}")
    other = corpus / "adf-source" / "alesaez-adf-cicd-8c41112"  # another factory's publish output
    assert main(["adf", "build", "--repo", str(same / "collaboration"), "--out", str(tmp_path / "b"),
                 "--compare", str(other / "publish")]) == 1
    out = capsys.readouterr().out
    assert "differs: missing resource microsoft.datafactory/factories/pipelines" in out
    assert main(["adf", "build", "--repo", str(same / "collaboration"), "--out", str(tmp_path / "c"),
                 "--compare", str(tmp_path / "nowhere")]) == 2
    assert "invalid_compare" in capsys.readouterr().err
