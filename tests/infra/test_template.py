"""Checks of infra/main.json and its parameter files, without Azure.

Static checks walk every template expression; semantic checks expand the
template with each parameter file (tests/infra/arm.py evaluates the ARM
expression language) and look at what Resource Manager would deploy.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from devhost.host import load_app
from shared.settings import KNOWN_SETTINGS, Settings

from .arm import (
    FUNCTIONS,
    Call,
    Deployed,
    Lit,
    Scope,
    UnknownFunction,
    arm_guid,
    evaluate_outputs,
    expand,
    expressions,
    parse,
    walk,
)

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE_PATH = INFRA / "main.json"
PARAMETER_FILES = sorted(INFRA.glob("parameters.*.json"))
APP_SCOPE = Scope("aaaaaaaa-0000-0000-0000-00000000000a", "rg-dataops")

# Built-in role definition ids (Azure built-in roles reference).
DATA_FACTORY_CONTRIBUTOR = "673868aa-7521-48a0-acc6-0f60742d39f5"
# The Functions host minimum for identity-based AzureWebJobsStorage (Microsoft docs: Storage Blob Data Owner).
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
# Broad roles that must never be granted by this template.
OWNER, CONTRIBUTOR, UAA = ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c",
                           "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9")

WEBHOOK_SECRETS = ("GITHUB_WEBHOOK_SECRET", "AZDO_WEBHOOK_USER", "AZDO_WEBHOOK_PASSWORD", "GITLAB_WEBHOOK_TOKEN")
PLATFORM_SETTINGS = {"AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AZURE_CLIENT_ID"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load(TEMPLATE_PATH)


def param_values(path: Path) -> dict[str, Any]:
    return {k: v["value"] for k, v in load(path)["parameters"].items()}


def templates(t: dict[str, Any], path: str = "main") -> list[tuple[str, dict[str, Any]]]:
    """The template and every nested (inner-scope) template in it."""
    out = [(path, t)]
    for n, r in enumerate(t.get("resources", [])):
        nested = r.get("properties", {}).get("template")
        if isinstance(nested, dict):
            out.extend(templates(nested, f"{path}.resources[{n}]"))
    return out


def resources(t: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for _, tt in templates(t) for r in tt.get("resources", [])]


def by_type(deployed: list[Deployed], rtype: str) -> list[Deployed]:
    return [d for d in deployed if d.type == rtype]


def one(deployed: list[Deployed], rtype: str) -> dict[str, Any]:
    found = by_type(deployed, rtype)
    assert len(found) == 1, f"{rtype}: {len(found)}"
    return found[0].resource


def app_settings(deployed: list[Deployed]) -> dict[str, str]:
    settings = one(deployed, "Microsoft.Web/sites")["properties"]["siteConfig"]["appSettings"]
    names = [s["name"] for s in settings]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {s["name"]: s["value"] for s in settings}


def role_guid(assignment: Deployed) -> str:
    rid = assignment.resource["properties"]["roleDefinitionId"]
    m = re.fullmatch(rf"/subscriptions/{re.escape(assignment.scope.subscription_id)}"
                     r"/providers/Microsoft\.Authorization/roleDefinitions/([0-9a-f-]{36})", rid)
    assert m, f"roleDefinitionId not a subscription-level role definition id: {rid}"
    return m.group(1)


@pytest.fixture(scope="module", params=[p.name for p in PARAMETER_FILES])
def deployment(request: pytest.FixtureRequest, template: dict[str, Any]) -> tuple[dict[str, Any], list[Deployed]]:
    values = param_values(INFRA / request.param)
    return values, expand(template, values, APP_SCOPE)


# ------------------------------------------------------------ static checks


def test_files_are_valid_json_with_schemas(template: dict[str, Any]) -> None:
    assert template["$schema"].endswith("/deploymentTemplate.json#")
    assert {p.name for p in PARAMETER_FILES} >= {"parameters.dev.json", "parameters.prod.json"}
    for path in PARAMETER_FILES:
        assert load(path)["$schema"].endswith("/deploymentParameters.json#"), path.name


def test_every_expression_parses_and_calls_known_functions(template: dict[str, Any]) -> None:
    count = 0
    for where, t in templates(template):
        for path, text in expressions(t):
            for node in walk(parse(text)):
                count += 1
                if isinstance(node, Call):
                    assert node.name in FUNCTIONS or node.name == "if", f"{where}{path}: unknown {node.name}()"
    assert count > 200


def _references(t: dict[str, Any], fn: str) -> list[tuple[str, Any]]:
    refs = []
    for path, text in expressions(t):
        for node in walk(parse(text)):
            if isinstance(node, Call) and node.name == fn:
                assert node.args and isinstance(node.args[0], Lit), f"{path}: {fn}() needs a literal name"
                refs.append((path, node.args[0].value))
    return refs


def test_every_parameter_and_variable_reference_resolves(template: dict[str, Any]) -> None:
    for where, t in templates(template):
        params = set(t.get("parameters", {}))
        variables = set(t.get("variables", {})) - {"copy"}
        variables |= {c["name"] for c in t.get("variables", {}).get("copy", [])}
        for path, name in _references(t, "parameters"):
            assert name in params, f"{where}{path}: parameters('{name}') is not defined"
        for path, name in _references(t, "variables"):
            assert name in variables, f"{where}{path}: variables('{name}') is not defined"


def test_every_parameter_and_variable_is_used(template: dict[str, Any]) -> None:
    for where, t in templates(template):
        used_params = {name for _, name in _references(t, "parameters")}
        assert set(t.get("parameters", {})) <= used_params, \
            f"{where}: unused parameters {set(t.get('parameters', {})) - used_params}"
        declared = (set(t.get("variables", {})) - {"copy"}) | {c["name"] for c in t.get("variables", {}).get("copy", [])}
        used_vars = {name for _, name in _references(t, "variables")}
        assert declared <= used_vars, f"{where}: unused variables {declared - used_vars}"


def test_named_copy_index_refers_to_an_enclosing_loop(template: dict[str, Any]) -> None:
    loops = {c["name"] for c in template["variables"]["copy"]}
    for path, text in expressions(template):
        for node in walk(parse(text)):
            if isinstance(node, Call) and node.name == "copyindex" and node.args and isinstance(node.args[0], Lit):
                name = node.args[0].value
                assert name in loops and ".variables.copy" in path, f"{path}: copyIndex('{name}')"


def test_every_resource_has_an_api_version(template: dict[str, Any]) -> None:
    for r in resources(template):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", r.get("apiVersion", "")), r["type"]
    for path, text in expressions(template):
        for node in walk(parse(text)):
            if isinstance(node, Call) and node.name == "reference":
                assert len(node.args) >= 2, f"{path}: reference() without an API version"


def test_no_account_keys_or_list_functions(template: dict[str, Any]) -> None:
    text = json.dumps(template)
    # listKeys()/listSecrets()/list*() would put keys into settings or outputs; identity is used instead.
    assert not re.search(r"\blist[A-Za-z]*\(", text)
    assert "AccountKey=" not in text and "SharedAccessSignature" not in text
    assert "AzureWebJobsStorage'" not in text  # only the identity-based AzureWebJobsStorage__* settings


def test_no_secret_in_defaults_or_outputs(template: dict[str, Any]) -> None:
    secretish = re.compile(r"(?i)(password|secret|token|key)=|InstrumentationKey|AccountKey|sig=|eyJ[A-Za-z0-9_-]{10,}"
                           r"|[A-Za-z0-9+/]{40,}={0,2}")
    for where, t in templates(template):
        for name, spec in t.get("parameters", {}).items():
            if spec["type"].lower() in ("securestring", "secureobject"):
                assert "defaultValue" not in spec, f"{where}: secure parameter {name} has a default"
            assert not secretish.search(json.dumps(spec.get("defaultValue", ""))), f"{where}: default of {name}"
    for name, spec in template["outputs"].items():
        text = json.dumps(spec)
        for forbidden in ("ConnectionString", "InstrumentationKey", "secretSettings", "@Microsoft.KeyVault",
                          "listKeys", "primaryKey", "keys"):
            assert forbidden not in text, f"output {name} exposes {forbidden}"
    for path in PARAMETER_FILES:
        assert not secretish.search(path.read_text(encoding="utf-8")), path.name


def test_secret_settings_map_to_valid_key_vault_secret_names(template: dict[str, Any]) -> None:
    for path in PARAMETER_FILES:
        mapping = param_values(path).get("secretAppSettings", template["parameters"]["secretAppSettings"]["defaultValue"])
        assert set(WEBHOOK_SECRETS) <= set(mapping), path.name
        for setting, secret_name in mapping.items():
            assert re.fullmatch(r"[0-9A-Za-z-]{1,127}", secret_name), f"{path.name}: {setting} -> {secret_name}"


def test_parameter_files_match_the_template(template: dict[str, Any]) -> None:
    defined = template["parameters"]
    required = {n for n, s in defined.items() if "defaultValue" not in s}
    types = {"string": str, "int": int, "bool": bool, "object": dict, "array": list}
    for path in PARAMETER_FILES:
        values = param_values(path)
        assert set(values) <= set(defined), f"{path.name}: unknown {set(values) - set(defined)}"
        assert required <= set(values), f"{path.name}: missing {required - set(values)}"
        for name, value in values.items():
            spec = defined[name]
            assert isinstance(value, types[spec["type"].lower()]), f"{path.name}: {name} type"
            if "allowedValues" in spec:
                assert value in spec["allowedValues"], f"{path.name}: {name}"
            if isinstance(value, int) and not isinstance(value, bool):
                assert spec.get("minValue", value) <= value <= spec.get("maxValue", value), f"{path.name}: {name}"
            if isinstance(value, str):
                assert spec.get("minLength", 0) <= len(value) <= spec.get("maxLength", len(value)), name
        for entry in values.get("dataFactories", []):
            assert set(entry) == {"subscriptionId", "resourceGroup", "factoryName"}, path.name
        for entry in values.get("eventTriggerStorageAccounts", []):
            assert set(entry) == {"subscriptionId", "resourceGroup", "storageAccountName"}, path.name
    assert param_values(INFRA / "parameters.prod.json")["keyVaultPurgeProtection"] is True


# ------------------------------------------------------------ the evaluator catches mistakes


def test_a_misspelt_reference_fails_expansion(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["variables"]["identityName"] = "[format('id-{0}', variables('baseNmae'))]"
    with pytest.raises(KeyError, match="baseNmae"):
        expand(broken, param_values(INFRA / "parameters.dev.json"), APP_SCOPE)
    broken = copy.deepcopy(template)
    broken["variables"]["baseName"] = "[fromat('{0}', parameters('namePrefix'))]"
    with pytest.raises(UnknownFunction):
        expand(broken, param_values(INFRA / "parameters.dev.json"), APP_SCOPE)
    with pytest.raises(KeyError, match="not defined by the template"):
        expand(template, {**param_values(INFRA / "parameters.dev.json"), "nope": 1}, APP_SCOPE)


# ------------------------------------------------------------ what gets deployed


def test_function_app_is_https_only_tls12_no_ftp_no_basic_auth(deployment: tuple[dict, list[Deployed]]) -> None:
    _, deployed = deployment
    site = one(deployed, "Microsoft.Web/sites")
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["scmMinTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    policies = {d.name.split("/")[-1]: d.resource["properties"]["allow"]
                for d in by_type(deployed, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")}
    assert policies == {"ftp": False, "scm": False}
    assert all(d.name.startswith(site["name"] + "/")
               for d in by_type(deployed, "Microsoft.Web/sites/basicPublishingCredentialsPolicies"))


def test_flex_consumption_python_311(deployment: tuple[dict, list[Deployed]]) -> None:
    values, deployed = deployment
    plan = one(deployed, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux
    site = one(deployed, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert site["properties"]["serverFarmId"].endswith(f"/serverfarms/{plan['name']}")
    cfg = site["properties"]["functionAppConfig"]
    assert cfg["runtime"] == {"name": "python", "version": "3.11"}
    scale = cfg["scaleAndConcurrency"]
    assert scale["maximumInstanceCount"] == values.get("maximumInstanceCount", 40)
    assert scale["instanceMemoryMB"] in (512, 2048, 4096)
    assert scale["triggers"]["http"]["perInstanceConcurrency"] >= 1
    storage = cfg["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    identity = one(deployed, "Microsoft.ManagedIdentity/userAssignedIdentities")
    assert storage["authentication"]["userAssignedIdentityResourceId"].endswith(f"/{identity['name']}")
    account = one(deployed, "Microsoft.Storage/storageAccounts")["name"]
    endpoint = f"<reference:{APP_SCOPE.rg_id}/providers/Microsoft.Storage/storageAccounts/{account}>.primaryEndpoints.blob"
    assert storage["value"].startswith(endpoint)  # the blob endpoint ends with '/'
    container = storage["value"][len(endpoint):]
    assert container.startswith("app-package-")
    assert f"{account}/default/{container}" in {
        d.name for d in by_type(deployed, "Microsoft.Storage/storageAccounts/blobServices/containers")}
    # Flex Consumption refuses these settings (the runtime comes from functionAppConfig).
    settings = app_settings(deployed)
    for banned in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
                   "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "AzureWebJobsStorage"):
        assert banned not in settings
    assert "linuxFxVersion" not in site["properties"]["siteConfig"]


def test_site_uses_the_user_assigned_identity_everywhere(deployment: tuple[dict, list[Deployed]]) -> None:
    _, deployed = deployment
    identity_id = (f"{APP_SCOPE.rg_id}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
                   f"{one(deployed, 'Microsoft.ManagedIdentity/userAssignedIdentities')['name']}")
    site = one(deployed, "Microsoft.Web/sites")
    assert site["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}}
    assert site["properties"]["keyVaultReferenceIdentity"] == identity_id
    settings = app_settings(deployed)
    client_id = f"<reference:{identity_id}>.clientId"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == client_id
    assert settings["AZURE_CLIENT_ID"] == client_id  # DefaultAzureCredential in shared/ picks the same identity


def test_app_settings_are_the_ones_the_app_reads(deployment: tuple[dict, list[Deployed]]) -> None:
    values, deployed = deployment
    settings = app_settings(deployed)
    sample = load(ROOT / "local.settings.sample.json")["Values"]
    for name in settings:
        assert name in KNOWN_SETTINGS or name in sample or name in PLATFORM_SETTINGS, name
    account = one(deployed, "Microsoft.Storage/storageAccounts")["name"]
    assert settings["AzureWebJobsStorage__accountName"] == account
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"].endswith(".ConnectionString")
    assert settings["OTEL_SERVICE_NAME"] == "dataops-deployer"
    assert settings["DATAOPS_CONFIG"] == values.get("configPath", "infra/environments.yaml")


def test_secrets_are_key_vault_references_to_its_own_vault(deployment: tuple[dict, list[Deployed]]) -> None:
    values, deployed = deployment
    settings = app_settings(deployed)
    vault = one(deployed, "Microsoft.KeyVault/vaults")
    mapping = values["secretAppSettings"]
    for setting in (*WEBHOOK_SECRETS, *mapping):
        assert settings[setting] == (f"@Microsoft.KeyVault(SecretUri=https://{vault['name']}.vault.azure.net/"
                                     f"secrets/{mapping[setting]}/)"), setting
    for name, value in settings.items():
        if name not in mapping:
            assert "KeyVault" not in value and not re.search(r"(?i)(secret|token|password)", name), name
    props = vault["properties"]
    assert props["enableRbacAuthorization"] is True and props["accessPolicies"] == []
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] in (True, None)  # ARM refuses an explicit false
    assert 3 <= len(vault["name"]) <= 24 and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]", vault["name"])


def test_storage_account_is_identity_only_https_tls12(deployment: tuple[dict, list[Deployed]]) -> None:
    _, deployed = deployment
    account = one(deployed, "Microsoft.Storage/storageAccounts")
    props = account["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False
    assert re.fullmatch(r"[a-z0-9]{3,24}", account["name"])


@pytest.mark.parametrize(("prefix", "queue"), [("", None), ("blue", None), ("blue", "Release-Requests")])
def test_storage_objects_are_what_the_app_and_its_triggers_use(template: dict[str, Any], prefix: str,
                                                              queue: str | None) -> None:
    values = {**param_values(INFRA / "parameters.dev.json"), "storagePrefix": prefix}
    if queue:
        values["deployQueueName"] = queue
    deployed = expand(template, values, APP_SCOPE)
    settings = app_settings(deployed)
    names = Settings(settings).names  # what the app, given these app settings, uses

    def leaf(rtype: str) -> set[str]:
        return {d.name.split("/")[-1] for d in by_type(deployed, rtype)}

    assert leaf("Microsoft.Storage/storageAccounts/tableServices/tables") == set(names.tables())
    assert set(names.containers()) < leaf("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert settings["DATAOPS_STORAGE_PREFIX"] == prefix
    # The queues created are the ones the worker's triggers listen on, as the Functions host resolves
    # their bindings from these app settings, and the ones the app sends to.
    host = load_app(environ=settings)
    listened = {q.queue for q in host.queues}
    assert not host.errors
    assert leaf("Microsoft.Storage/storageAccounts/queueServices/queues") == listened == set(names.queues())
    assert names.deploy_queue == f"{prefix}{queue or 'dataops-deployments'}".lower()


def test_application_insights_on_log_analytics(deployment: tuple[dict, list[Deployed]]) -> None:
    _, deployed = deployment
    workspace = one(deployed, "Microsoft.OperationalInsights/workspaces")
    ai = one(deployed, "Microsoft.Insights/components")
    assert ai["properties"]["WorkspaceResourceId"].endswith(f"/workspaces/{workspace['name']}")
    assert ai["properties"]["IngestionMode"] == "LogAnalytics"


# ------------------------------------------------------------ least privilege


def _assignments(deployed: list[Deployed]) -> list[Deployed]:
    return by_type(deployed, "Microsoft.Authorization/roleAssignments")


def _expected_scopes(values: dict[str, Any], deployed: list[Deployed]) -> dict[str, set[str]]:
    """Role GUID -> the exact scopes it must be granted on."""
    account = one(deployed, "Microsoft.Storage/storageAccounts")["name"]
    vault = one(deployed, "Microsoft.KeyVault/vaults")["name"]
    storage_id = f"{APP_SCOPE.rg_id}/providers/Microsoft.Storage/storageAccounts/{account}"
    factories = values.get("dataFactories", [])
    events = values.get("eventTriggerStorageAccounts", [])
    return {
        DATA_FACTORY_CONTRIBUTOR: {f"/subscriptions/{f['subscriptionId']}/resourceGroups/{f['resourceGroup']}"
                                   f"/providers/Microsoft.DataFactory/factories/{f['factoryName']}" for f in factories},
        "deployments": {f"/subscriptions/{f['subscriptionId']}/resourceGroups/{f['resourceGroup']}"
                        for f in factories},
        "eventgrid": {f"/subscriptions/{e['subscriptionId']}/resourceGroups/{e['resourceGroup']}"
                      f"/providers/Microsoft.Storage/storageAccounts/{e['storageAccountName']}" for e in events},
        STORAGE_BLOB_DATA_OWNER: {storage_id},
        STORAGE_QUEUE_DATA_CONTRIBUTOR: {storage_id},
        STORAGE_TABLE_DATA_CONTRIBUTOR: {storage_id},
        KEY_VAULT_SECRETS_USER: {f"{APP_SCOPE.rg_id}/providers/Microsoft.KeyVault/vaults/{vault}"},
    }


def _custom_roles(deployed: list[Deployed]) -> dict[str, dict[str, Any]]:
    roles = {}
    for d in by_type(deployed, "Microsoft.Authorization/roleDefinitions"):
        actions = d.resource["properties"]["permissions"][0]["actions"]
        kind = "deployments" if any(a.startswith("Microsoft.Resources/deployments") for a in actions) else "eventgrid"
        roles[kind] = d.resource
    return roles


def check_least_privilege(values: dict[str, Any], deployed: list[Deployed]) -> None:
    expected = _expected_scopes(values, deployed)
    for definition in by_type(deployed, "Microsoft.Authorization/roleDefinitions"):
        # Role definitions are created at subscription scope (a nested subscription-level deployment).
        assert definition.scope.resource_group == "" and definition.depth == 1
        assert definition.scope.subscription_id == APP_SCOPE.subscription_id
    custom = _custom_roles(deployed)
    guid_to_kind = {r["name"]: k for k, r in custom.items()}
    identity = one(deployed, "Microsoft.ManagedIdentity/userAssignedIdentities")["name"]
    granted: dict[str, set[str]] = {k: set() for k in expected}
    seen_names: dict[tuple[str, str], dict[str, Any]] = {}
    for a in _assignments(deployed):
        props = a.resource["properties"]
        assert props["principalType"] == "ServicePrincipal"
        assert props["principalId"].endswith(f"/userAssignedIdentities/{identity}>.principalId"), props["principalId"]
        guid = role_guid(a)
        assert guid not in (OWNER, CONTRIBUTOR, UAA)
        kind = guid_to_kind.get(guid, guid)
        assert kind in expected, f"unexpected role {guid} on {a.target_scope_id}"
        scope = a.target_scope_id
        assert re.fullmatch(r"/subscriptions/[^/]+/resourceGroups/[^/]+(/providers/.+)?", scope), scope
        granted[kind].add(scope)
        # The same name on the same scope must be the same assignment (idempotent re-PUT), never a conflict.
        key = (scope, a.name)
        assert seen_names.setdefault(key, props) == props
    assert granted == expected
    # Nothing at subscription scope, nothing on the app's own resource group as a whole.
    assert all(s != APP_SCOPE.rg_id for ss in granted.values() for s in ss)

    if values.get("dataFactories"):
        role = custom["deployments"]["properties"]
        assert role["type"] == "customRole"
        assert role["permissions"] == [{"actions": ["Microsoft.Resources/deployments/*",
                                                    "Microsoft.Resources/subscriptions/resourceGroups/read"],
                                        "notActions": []}]
        assert role["assignableScopes"] == sorted(expected["deployments"], key=role["assignableScopes"].index)
        assert len(role["assignableScopes"]) == len(set(role["assignableScopes"]))
    else:
        assert "deployments" not in custom
    if values.get("eventTriggerStorageAccounts"):
        role = custom["eventgrid"]["properties"]
        actions = role["permissions"][0]["actions"]
        assert "Microsoft.EventGrid/eventSubscriptions/write" in actions
        assert all(a.startswith("Microsoft.EventGrid/eventSubscriptions/") and "*" not in a for a in actions)
        assert set(role["assignableScopes"]) == expected["eventgrid"]
    else:
        assert "eventgrid" not in custom


def test_least_privilege_role_assignments(deployment: tuple[dict, list[Deployed]]) -> None:
    values, deployed = deployment
    assert values["dataFactories"], "the example parameter files should show factory access"
    check_least_privilege(values, deployed)


def test_role_assignments_across_resource_groups_and_subscriptions(template: dict[str, Any]) -> None:
    values = {
        "environmentName": "prod",
        "dataFactories": [
            {"subscriptionId": "bbbbbbbb-0000-0000-0000-00000000000b", "resourceGroup": "rg-a", "factoryName": "adf-1"},
            {"subscriptionId": "bbbbbbbb-0000-0000-0000-00000000000b", "resourceGroup": "rg-a", "factoryName": "adf-2"},
            {"subscriptionId": "cccccccc-0000-0000-0000-00000000000c", "resourceGroup": "rg-b", "factoryName": "adf-3"},
        ],
        "eventTriggerStorageAccounts": [
            {"subscriptionId": "cccccccc-0000-0000-0000-00000000000c", "resourceGroup": "rg-c",
             "storageAccountName": "stlanding"},
        ],
    }
    deployed = expand(template, values, APP_SCOPE)
    check_least_privilege(values, deployed)
    # Role assignments in another resource group are made by a nested deployment scoped to it.
    nested = [d for d in by_type(deployed, "Microsoft.Resources/deployments") if "resourceGroup" in d.resource]
    assert {(d.resource["subscriptionId"], d.resource["resourceGroup"]) for d in nested} == {
        ("bbbbbbbb-0000-0000-0000-00000000000b", "rg-a"), ("cccccccc-0000-0000-0000-00000000000c", "rg-b"),
        ("cccccccc-0000-0000-0000-00000000000c", "rg-c")}
    # Serial, so two factories of one resource group re-PUT the same RG assignment one after the other.
    for d in nested:
        assert d.resource["copy"]["mode"] == "serial" and d.resource["copy"]["batchSize"] == 1
    assert all(a.depth == 1 for a in _assignments(deployed) if a.scope.resource_group != APP_SCOPE.resource_group)


def test_no_target_factories_means_no_extra_roles(template: dict[str, Any]) -> None:
    deployed = expand(template, {"environmentName": "dev"}, APP_SCOPE)
    check_least_privilege({"environmentName": "dev"}, deployed)
    assert by_type(deployed, "Microsoft.Authorization/roleDefinitions") == []
    # Its own storage and vault access, and the (empty) subscription-scope deployment of the custom
    # roles; no factory or event trigger access deployments.
    nested = by_type(deployed, "Microsoft.Resources/deployments")
    assert sorted(d.name for d in nested) == ["dataops-dev-app-access", "dataops-dev-custom-roles"]
    assert len(_assignments(deployed)) == 4  # blob, queue, table on its storage; secrets user on its vault


def test_built_in_role_ids(template: dict[str, Any]) -> None:
    assert template["variables"]["roles"] == {
        "dataFactoryContributor": DATA_FACTORY_CONTRIBUTOR,
        "storageBlobDataOwner": STORAGE_BLOB_DATA_OWNER,
        "storageQueueDataContributor": STORAGE_QUEUE_DATA_CONTRIBUTOR,
        "storageTableDataContributor": STORAGE_TABLE_DATA_CONTRIBUTOR,
        "keyVaultSecretsUser": KEY_VAULT_SECRETS_USER,
    }


# ------------------------------------------------------------ outputs and docs


def test_outputs_give_webhook_urls_without_keys(template: dict[str, Any]) -> None:
    outputs = evaluate_outputs(template, param_values(INFRA / "parameters.prod.json"), APP_SCOPE)
    site = f"<reference:{APP_SCOPE.rg_id}/providers/Microsoft.Web/sites/{outputs['functionAppName']}>.defaultHostName"
    assert outputs["githubWebhookUrl"] == f"https://{site}/api/hooks/github"
    assert outputs["azureDevOpsWebhookUrl"] == f"https://{site}/api/hooks/azure-devops"
    assert outputs["gitlabWebhookUrl"] == f"https://{site}/api/hooks/gitlab"
    for name, value in outputs.items():
        text = json.dumps(value)
        assert "code=" not in text and "KeyVault(" not in text and "ConnectionString" not in text, name
    assert outputs["keyVaultSecretNames"]["GITHUB_WEBHOOK_SECRET"] == "github-webhook-secret"


def test_deploy_guide_covers_the_steps() -> None:
    doc = (ROOT / "docs" / "deploy-azure.md").read_text(encoding="utf-8")
    for needle in ("az deployment group create", "infra/parameters.prod.json", "az keyvault secret set",
                   "github-webhook-secret", "azdo-webhook-password", "gitlab-webhook-token",
                   "githubWebhookUrl", "azureDevOpsWebhookUrl", "gitlabWebhookUrl", "rotat", "service principal",
                   "az functionapp deploy"):
        assert needle in doc, needle


def test_webhook_outputs_match_the_app_routes(template: dict[str, Any]) -> None:
    """The URLs to paste into the providers are the anonymous hook routes the app registers."""
    source = (ROOT / "functions" / "hooks.py").read_text(encoding="utf-8")
    routes = set(re.findall(r'route="(hooks/[a-z-]+)"[^)]*AuthLevel\.ANONYMOUS', source))
    outputs = evaluate_outputs(template, param_values(INFRA / "parameters.dev.json"), APP_SCOPE)
    urls = {outputs[k].split("/api/", 1)[1] for k in ("githubWebhookUrl", "azureDevOpsWebhookUrl", "gitlabWebhookUrl")}
    assert urls == {"hooks/github", "hooks/azure-devops", "hooks/gitlab"}
    assert urls <= routes, f"hook routes in functions/hooks.py: {routes}"


def test_app_service_authentication_signs_callers_in_with_entra_id(template: dict[str, Any]) -> None:
    """authsettingsV2: Entra ID for the routes that act for a person; anonymous requests still reach
    the app (the webhooks authenticate with their own signatures; the app answers 401 elsewhere)."""
    client = "22222222-2222-2222-2222-222222222222"
    deployed = expand(template, {"environmentName": "prod", "authClientId": client}, APP_SCOPE)
    (auth,) = [r for r in by_type(deployed, "Microsoft.Web/sites/config") if r.name.endswith("/authsettingsV2")]
    props = auth.resource["properties"]
    assert props["platform"]["enabled"] is True
    assert props["globalValidation"]["unauthenticatedClientAction"] == "AllowAnonymous"
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True and aad["registration"]["clientId"] == client
    assert aad["registration"]["openIdIssuer"].endswith("/v2.0")
    without = expand(template, {"environmentName": "prod"}, APP_SCOPE)
    assert not [r for r in by_type(without, "Microsoft.Web/sites/config") if r.name.endswith("/authsettingsV2")]


# ------------------------------------------------------------ identity (issue 15 item 8)


def test_role_assignment_names_are_keyed_on_the_principal_id(deployment: tuple[dict, list[Deployed]]) -> None:
    """guid(scope, principalId, role): a re-created identity (new principal, same name) gets new
    assignments instead of a RoleAssignmentUpdateNotPermitted conflict with the old principal's."""
    _, deployed = deployment
    identity = one(deployed, "Microsoft.ManagedIdentity/userAssignedIdentities")["name"]
    assignments = _assignments(deployed)
    assert len(assignments) >= 4
    for a in assignments:
        principal = a.resource["properties"]["principalId"]
        assert principal.endswith(f"/userAssignedIdentities/{identity}>.principalId")
        assert a.name == arm_guid(a.target_scope_id, principal, role_guid(a)), (a.target_scope_id, a.name)
        assert a.name != arm_guid(a.target_scope_id, identity, role_guid(a))


def test_a_run_time_value_in_a_resource_name_is_refused(template: dict[str, Any]) -> None:
    """Resource Manager computes names before deploying: reference() there fails the deployment."""
    broken = copy.deepcopy(template)
    identity = "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identityName'))]"
    broken["resources"].append({
        "type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
        "name": f"[guid(resourceGroup().id, reference({identity[1:-1]}, '2023-01-31').principalId)]",
        "properties": {"principalId": "x", "roleDefinitionId": "y"}})
    with pytest.raises(ValueError, match="reference"):
        expand(broken, {"environmentName": "dev"}, APP_SCOPE)


def test_host_storage_roles_are_the_documented_minimum(deployment: tuple[dict, list[Deployed]]) -> None:
    """Identity-based AzureWebJobsStorage (Microsoft Learn, "Connecting to host storage with an
    identity"): Storage Blob Data Owner for the host; Storage Queue Data Contributor for the queue
    trigger (and the poison queue the host writes); Storage Table Data Contributor for the host's
    diagnostic events and the app's audit tables. Nothing broader (no Storage Account Contributor:
    there is no blob trigger)."""
    _, deployed = deployment
    account = one(deployed, "Microsoft.Storage/storageAccounts")["name"]
    storage_id = f"{APP_SCOPE.rg_id}/providers/Microsoft.Storage/storageAccounts/{account}"
    on_storage = sorted(role_guid(a) for a in _assignments(deployed) if a.target_scope_id == storage_id)
    assert on_storage == sorted([STORAGE_BLOB_DATA_OWNER, STORAGE_QUEUE_DATA_CONTRIBUTOR,
                                 STORAGE_TABLE_DATA_CONTRIBUTOR])
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "functions").glob("*.py"))
    assert "queue_trigger" in source and "blob_trigger" not in source


def _granted_factories(deployed: list[Deployed]) -> tuple[set[str], set[str]]:
    custom = {r["name"] for k, r in _custom_roles(deployed).items() if k == "deployments"}
    factories = {a.target_scope_id.casefold() for a in _assignments(deployed)
                 if role_guid(a) == DATA_FACTORY_CONTRIBUTOR}
    groups = {a.target_scope_id.casefold() for a in _assignments(deployed) if role_guid(a) in custom}
    return factories, groups


@pytest.mark.parametrize("parameter_file", [p.name for p in PARAMETER_FILES])
def test_every_configured_environment_gets_the_roles(template: dict[str, Any], parameter_file: str) -> None:
    """The configuration an instance runs with (configPath) names only factories the template grants
    Data Factory Contributor on, in resource groups it grants the deployment role on."""
    from shared.config import load_config

    values = param_values(INFRA / parameter_file)
    config = load_config(ROOT / values.get("configPath", "infra/environments.yaml"))
    factories, groups = _granted_factories(expand(template, values, APP_SCOPE))
    targets = {n: e.data_factory for n, e in config.environments.items() if e.data_factory}
    assert targets, "the configuration deploys no factory"
    for name, t in targets.items():
        group = f"/subscriptions/{t.subscription_id}/resourceGroups/{t.resource_group}".casefold()
        assert f"{group}/providers/microsoft.datafactory/factories/{t.factory_name}".casefold() in factories, name
        assert group in groups, name


def test_a_configuration_the_template_does_not_cover_is_refused(tmp_path: Path) -> None:
    from shared.infra_coverage import check_parameter_file, main

    for p in PARAMETER_FILES:
        assert check_parameter_file(p, root=ROOT) == [], p.name
    # The production configuration on the dev instance's parameters: test and prod are not covered.
    params = load(INFRA / "parameters.dev.json")
    params["parameters"]["configPath"] = {"value": "infra/environments.yaml"}
    path = tmp_path / "parameters.json"
    path.write_text(json.dumps(params), encoding="utf-8")
    problems = check_parameter_file(path, root=ROOT)
    assert [p.split(":")[0] for p in problems] == ["environment dev", "environment test", "environment prod"]
    assert "adf-contoso-prod" in problems[2] and "dataFactories" in problems[2]
    assert main([str(INFRA / "parameters.prod.json")]) == 0
    # main() resolves configPath from the repository root above the parameter file's folder.
    (tmp_path / "infra").mkdir()
    moved = tmp_path / "infra" / "parameters.json"
    moved.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "infra" / "environments.yaml").write_text(
        (INFRA / "environments.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main([str(moved)]) == 1


def test_every_dependency_names_a_resource_or_loop_of_the_template(deployment: tuple[dict, list[Deployed]]) -> None:
    """dependsOn entries must name what the same template deploys (an unknown one fails in Azure)."""
    _, deployed = deployment
    top = [d for d in deployed if d.depth == 0]

    def rid(d: Deployed) -> str:
        rtype, name = d.type.split("/"), d.name.split("/")
        tail = "/".join(f"{t}/{n}" for t, n in zip(rtype[1:], name, strict=True))
        base = f"/subscriptions/{d.scope.subscription_id}" if d.type == "Microsoft.Resources/deployments" and \
            "resourceGroup" not in d.resource and "subscriptionId" in d.resource else d.scope.rg_id
        return f"{base}/providers/{rtype[0]}/{tail}"

    ids = {rid(d) for d in top} | {d.resource["copy"]["name"] for d in top if "copy" in d.resource}
    for d in top:
        for dep in d.resource.get("dependsOn", []):
            assert dep in ids, f"{d.type} {d.name}: dependsOn {dep}"
