"""azure-mgmt-datafactory against the ARM stand-in: objects, references, triggers, errors."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from tests.fixtures.arm import ArmStandInHandle

LS = {"type": "AzureBlobStorage", "typeProperties": {"connectionString": "DefaultEndpointsProtocol=https"}}


def _ds(ls: str) -> dict[str, Any]:
    return {"type": "Binary", "linkedServiceName": {"referenceName": ls, "type": "LinkedServiceReference"}}


def _pipeline(ds: str | None = None, calls: str | None = None) -> dict[str, Any]:
    activities: list[dict[str, Any]] = []
    if ds:
        activities.append({"name": "lookup", "type": "GetMetadata", "typeProperties": {
            "dataset": {"referenceName": ds, "type": "DatasetReference"}, "fieldList": ["exists"]}})
    if calls:
        activities.append({"name": "call", "type": "ExecutePipeline", "typeProperties": {
            "pipeline": {"referenceName": calls, "type": "PipelineReference"}, "waitOnCompletion": True}})
    return {"activities": activities}


def _schedule_trigger(pipeline: str, interval: int = 1) -> dict[str, Any]:
    return {"type": "ScheduleTrigger", "pipelines": [{"pipelineReference": {
        "referenceName": pipeline, "type": "PipelineReference"}, "parameters": {}}],
        "typeProperties": {"recurrence": {"frequency": "Hour", "interval": interval,
                                          "startTime": "2024-01-01T00:00:00Z", "timeZone": "UTC"}}}


def _event_trigger(pipeline: str) -> dict[str, Any]:
    return {"type": "BlobEventsTrigger", "pipelines": [{"pipelineReference": {
        "referenceName": pipeline, "type": "PipelineReference"}}], "typeProperties": {
        "blobPathBeginsWith": "/in/blobs/", "ignoreEmptyBlobs": True, "events": ["Microsoft.Storage.BlobCreated"],
        "scope": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"}}


@pytest.fixture
def seeded(arm_standin: ArmStandInHandle, arm_factory_name: str) -> str:
    arm_standin.create_factory(arm_factory_name)
    arm_standin.put_object(arm_factory_name, "linkedservices", "LS_Blob", LS)
    arm_standin.put_object(arm_factory_name, "datasets", "DS_In", _ds("LS_Blob"))
    arm_standin.put_object(arm_factory_name, "pipelines", "PL_Child", _pipeline("DS_In"))
    arm_standin.put_object(arm_factory_name, "pipelines", "PL_Parent", _pipeline(calls="PL_Child"))
    arm_standin.put_object(arm_factory_name, "triggers", "TR_Hourly", _schedule_trigger("PL_Parent"))
    return arm_factory_name


def test_list_get_create_delete_through_sdk(arm_standin: ArmStandInHandle, seeded: str) -> None:
    client = arm_standin.factory_client(seeded)
    rg = arm_standin.resource_group
    assert client.factories.get(rg, seeded).name == seeded
    assert sorted(p.name for p in client.pipelines.list_by_factory(rg, seeded)) == ["PL_Child", "PL_Parent"]
    ds = client.datasets.get(rg, seeded, "ds_in")  # names are case-insensitive
    assert ds.name == "DS_In" and ds.properties.linked_service_name.reference_name == "LS_Blob"

    client.linked_services.create_or_update(rg, seeded, "LS_Two", (
        {"properties": LS}))
    client.datasets.create_or_update(rg, seeded, "DS_Two", ({"properties": _ds("LS_Two")}))
    client.pipelines.create_or_update(rg, seeded, "PL_Two", (
        {"properties": _pipeline("DS_Two")}))
    assert arm_standin.get_object(seeded, "pipelines", "PL_Two") is not None

    client.pipelines.delete(rg, seeded, "PL_Two")
    client.datasets.delete(rg, seeded, "DS_Two")
    client.linked_services.delete(rg, seeded, "LS_Two")
    client.linked_services.delete(rg, seeded, "LS_Two")  # absent: 204, no error
    assert arm_standin.get_object(seeded, "linkedservices", "LS_Two") is None
    with pytest.raises(ResourceNotFoundError):
        client.pipelines.get(rg, seeded, "PL_Two")
    assert arm_standin.counters.count("pipelines.delete") == 1
    assert arm_standin.counters.count("linkedservices.delete", status=204) == 1


def test_list_pages_with_next_link(arm_standin: ArmStandInHandle, arm_factory_name: str) -> None:
    arm_standin.create_factory(arm_factory_name)
    for i in range(arm_standin.page_size + 7):
        arm_standin.put_object(arm_factory_name, "pipelines", f"p{i:03d}", {"activities": []})
    client = arm_standin.factory_client(arm_factory_name)
    names = [p.name for p in client.pipelines.list_by_factory(arm_standin.resource_group, arm_factory_name)]
    assert len(names) == arm_standin.page_size + 7 and len(set(names)) == len(names)
    assert arm_standin.counters.count("pipelines.list") == 2


@pytest.mark.parametrize(("kind", "name", "user"), [
    ("linkedservices", "LS_Blob", "DS_In"),
    ("datasets", "DS_In", "PL_Child"),
    ("pipelines", "PL_Child", "PL_Parent"),
    ("pipelines", "PL_Parent", "TR_Hourly"),
])
def test_delete_of_referenced_object_fails_like_adf(arm_standin: ArmStandInHandle, seeded: str, kind: str,
                                                     name: str, user: str) -> None:
    client = arm_standin.factory_client(seeded)
    ops = {"linkedservices": client.linked_services, "datasets": client.datasets,
           "pipelines": client.pipelines}[kind]
    with pytest.raises(HttpResponseError) as err:
        ops.delete(arm_standin.resource_group, seeded, name)
    assert err.value.status_code == 400
    assert err.value.error.code == "BadRequest"
    assert err.value.error.message == f"The document cannot be deleted since it is referenced by {user}."
    assert arm_standin.get_object(seeded, kind, name) is not None


def test_put_with_invalid_reference_fails(arm_standin: ArmStandInHandle, seeded: str) -> None:
    client = arm_standin.factory_client(seeded)
    with pytest.raises(HttpResponseError) as err:
        client.datasets.create_or_update(arm_standin.resource_group, seeded, "DS_Bad",
                                         ({"properties": _ds("LS_Missing")}))
    assert err.value.status_code == 400
    assert "invalid reference 'LS_Missing'" in err.value.error.message
    assert arm_standin.get_object(seeded, "datasets", "DS_Bad") is None


def test_trigger_start_stop_and_enabled_cannot_update(arm_standin: ArmStandInHandle, seeded: str) -> None:
    client = arm_standin.factory_client(seeded)
    rg = arm_standin.resource_group
    assert client.triggers.get(rg, seeded, "TR_Hourly").properties.runtime_state == "Stopped"
    client.triggers.begin_start(rg, seeded, "TR_Hourly").result()
    assert client.triggers.get(rg, seeded, "TR_Hourly").properties.runtime_state == "Started"

    changed = ({"properties": _schedule_trigger("PL_Parent", interval=2)})
    with pytest.raises(HttpResponseError) as err:
        client.triggers.create_or_update(rg, seeded, "TR_Hourly", changed)
    assert err.value.error.code == "TriggerEnabledCannotUpdate"
    # same definition (runtimeState in the body is read-only and ignored): accepted, still started
    same = ({"properties": {**_schedule_trigger("PL_Parent"), "runtimeState": "Stopped"}})
    assert client.triggers.create_or_update(rg, seeded, "TR_Hourly", same).properties.runtime_state == "Started"

    client.triggers.begin_stop(rg, seeded, "TR_Hourly").result()
    assert arm_standin.trigger_state(seeded, "TR_Hourly") == "Stopped"
    updated = client.triggers.create_or_update(rg, seeded, "TR_Hourly", changed)
    assert updated.properties["typeProperties"]["recurrence"]["interval"] == 2


def test_event_subscription_moves_over_time(arm_standin: ArmStandInHandle, seeded: str) -> None:
    client = arm_standin.factory_client(seeded)
    rg = arm_standin.resource_group
    now = [0.0]  # the stand-in's clock, moved by the test (no dependence on how fast this machine is)
    arm_standin.store.clock = lambda: now[0]
    arm_standin.put_object(seeded, "triggers", "TR_Blob", _event_trigger("PL_Parent"))
    assert client.triggers.get_event_subscription_status(rg, seeded, "TR_Blob").status == "Disabled"

    poller = client.triggers.begin_subscribe_to_events(rg, seeded, "TR_Blob")
    assert client.triggers.get_event_subscription_status(rg, seeded, "TR_Blob").status == "Provisioning"
    now[0] += 1.0
    assert poller.result().status == "Enabled"
    assert client.triggers.get_event_subscription_status(rg, seeded, "TR_Blob").status == "Enabled"

    poller = client.triggers.begin_unsubscribe_from_events(rg, seeded, "TR_Blob")
    assert client.triggers.get_event_subscription_status(rg, seeded, "TR_Blob").status == "Deprovisioning"
    now[0] += 1.0
    assert poller.result().status == "Disabled"
    assert arm_standin.counters.count("triggers.subscriptionOperation") >= 2

    with pytest.raises(HttpResponseError) as err:
        client.triggers.begin_subscribe_to_events(rg, seeded, "TR_Hourly").result()
    assert err.value.status_code == 400


def test_wrong_or_missing_token_is_401(arm_standin: ArmStandInHandle, seeded: str) -> None:
    from shared.adf.arm import factory_client

    bad = arm_standin.settings({"ARM_STANDIN_TOKEN": "not-the-token"})
    client = factory_client(arm_standin.target(seeded), bad)
    with pytest.raises(ClientAuthenticationError) as err:
        client.pipelines.get(arm_standin.resource_group, seeded, "PL_Child")
    assert err.value.status_code == 401
    assert err.value.error.code == "InvalidAuthenticationToken"

    import requests

    resp = requests.get(f"{arm_standin.url}/subscriptions/{arm_standin.subscription_id}/resourceGroups/"
                        f"{arm_standin.resource_group}/providers/Microsoft.DataFactory/factories/{seeded}"
                        "?api-version=2018-06-01", verify=arm_standin.ca_bundle, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "AuthenticationFailed"
    assert resp.headers["x-ms-correlation-request-id"]


def test_429_with_retry_after_is_retried_by_sdk(arm_standin: ArmStandInHandle, seeded: str) -> None:
    rule = arm_standin.faults.add(r"^pipelines\.get$", error_rate=1.0, error_statuses=(429,), max_faults=1)
    client = arm_standin.factory_client(seeded, retry_backoff_factor=0.01)
    assert client.pipelines.get(arm_standin.resource_group, seeded, "PL_Child").name == "PL_Child"
    assert rule.faults_injected == 1
    assert arm_standin.counters.count("pipelines.get", status=429) == 1
    assert arm_standin.counters.count("pipelines.get", status=200) == 1


def test_503_error_rate_is_retried(arm_standin: ArmStandInHandle, seeded: str) -> None:
    arm_standin.faults.add(r"^datasets\.get$", error_rate=1.0, error_statuses=(503,), max_faults=2)
    client = arm_standin.factory_client(seeded, retry_backoff_factor=0.01)
    assert client.datasets.get(arm_standin.resource_group, seeded, "DS_In").name == "DS_In"
    assert arm_standin.counters.count("datasets.get", status=503) == 2


def test_started_trigger_cannot_be_deleted(arm_standin: ArmStandInHandle, seeded: str) -> None:
    client = arm_standin.factory_client(seeded)
    rg = arm_standin.resource_group
    arm_standin.set_trigger_state(seeded, "TR_Hourly", "Started")
    with pytest.raises(HttpResponseError) as err:
        client.triggers.delete(rg, seeded, "TR_Hourly")
    assert err.value.error.code == "TriggerEnabledCannotUpdate"
    client.triggers.begin_stop(rg, seeded, "TR_Hourly").result()
    client.triggers.delete(rg, seeded, "TR_Hourly")
    client.pipelines.delete(rg, seeded, "PL_Parent")  # no longer referenced by the trigger
    assert arm_standin.names(seeded, "pipelines") == ["PL_Child"]


def test_every_object_kind_through_sdk(arm_standin: ArmStandInHandle, arm_factory_name: str) -> None:
    f = arm_factory_name
    arm_standin.create_factory(f)
    client = arm_standin.factory_client(f)
    rg = arm_standin.resource_group
    client.integration_runtimes.create_or_update(rg, f, "ir-managed", {"properties": {
        "type": "Managed", "typeProperties": {"computeProperties": {"location": "AutoResolve"}},
        "managedVirtualNetwork": {"referenceName": "default", "type": "ManagedVirtualNetworkReference"}}})
    client.credential_operations.create_or_update(rg, f, "cred-mi", {"properties": {
        "type": "ManagedIdentity", "typeProperties": {"resourceId": "/subscriptions/x/uami"}}})
    client.linked_services.create_or_update(rg, f, "LS_Sql", {"properties": {
        "type": "AzureSqlDatabase", "typeProperties": {"connectionString": "Server=x",
            "credential": {"referenceName": "cred-mi", "type": "CredentialReference"}},
        "connectVia": {"referenceName": "ir-managed", "type": "IntegrationRuntimeReference"}}})
    client.data_flows.create_or_update(rg, f, "df_flow", {"properties": {
        "type": "MappingDataFlow", "typeProperties": {"sources": [], "sinks": [], "script": ""}}})
    client.global_parameters.create_or_update(rg, f, "default", {"properties": {
        "env": {"type": "String", "value": "dev"}}})
    client.managed_virtual_networks.create_or_update(rg, f, "default", {"properties": {}})
    client.managed_private_endpoints.create_or_update(rg, f, "default", "pe-blob", {"properties": {
        "privateLinkResourceId": "/subscriptions/x/storage", "groupId": "blob", "fqdns": []}})

    assert [c.name for c in client.credential_operations.list_by_factory(rg, f)] == ["cred-mi"]
    assert [d.name for d in client.data_flows.list_by_factory(rg, f)] == ["df_flow"]
    assert client.global_parameters.get(rg, f, "default").properties["env"]["value"] == "dev"
    assert [m.name for m in client.managed_private_endpoints.list_by_factory(rg, f, "default")] == ["pe-blob"]
    mpe = client.managed_private_endpoints.get(rg, f, "default", "pe-blob")
    assert mpe.properties.provisioning_state == "Succeeded"
    assert [i.name for i in client.integration_runtimes.list_by_factory(rg, f)] == ["ir-managed"]

    with pytest.raises(HttpResponseError) as err:  # the linked service uses the credential
        client.credential_operations.delete(rg, f, "cred-mi")
    assert "referenced by LS_Sql" in err.value.error.message
    # the SDK has no managed virtual network delete; the REST route exists and is guarded
    resp = _raw(arm_standin, "DELETE", f"{f}/managedVirtualNetworks/default")
    assert resp.status_code == 400 and "referenced by pe-blob" in resp.json()["error"]["message"]
    client.managed_private_endpoints.delete(rg, f, "default", "pe-blob")
    client.linked_services.delete(rg, f, "LS_Sql")
    client.credential_operations.delete(rg, f, "cred-mi")
    client.integration_runtimes.delete(rg, f, "ir-managed")
    client.data_flows.delete(rg, f, "df_flow")
    client.global_parameters.delete(rg, f, "default")
    for kind in ("credentials", "linkedservices", "integrationruntimes", "dataflows", "globalparameters"):
        assert arm_standin.names(f, kind) == [], kind


def _raw(arm_standin: ArmStandInHandle, method: str, factory_path: str) -> Any:
    import requests

    url = (f"{arm_standin.url}/subscriptions/{arm_standin.subscription_id}/resourceGroups/"
           f"{arm_standin.resource_group}/providers/Microsoft.DataFactory/factories/{factory_path}"
           "?api-version=2018-06-01")
    return requests.request(method, url, headers={"Authorization": f"Bearer {arm_standin.token}"},
                            verify=arm_standin.ca_bundle, timeout=10)


def test_missing_factory_is_404(arm_standin: ArmStandInHandle) -> None:
    client = arm_standin.factory_client("nope")
    with pytest.raises(ResourceNotFoundError) as err:
        client.pipelines.get(arm_standin.resource_group, "nope", "p")
    assert err.value.error.code == "ResourceNotFound"


def test_tumbling_window_recurrence_cannot_change_in_place(arm_standin: ArmStandInHandle, seeded: str) -> None:
    def tumbling(start: str, interval: int) -> dict[str, Any]:
        return {"type": "TumblingWindowTrigger", "pipeline": {"pipelineReference": {
            "referenceName": "PL_Parent", "type": "PipelineReference"}}, "typeProperties": {
            "frequency": "Hour", "interval": interval, "startTime": start, "maxConcurrency": 1}}

    client = arm_standin.factory_client(seeded)
    rg = arm_standin.resource_group
    client.triggers.create_or_update(rg, seeded, "TW", {"properties": tumbling("2024-01-01T00:00:00Z", 1)})
    # same instant, other spelling, and a changed maxConcurrency: fine
    changed = tumbling("2024-01-01T00:00:00.000+00:00", 1)
    changed["typeProperties"]["maxConcurrency"] = 4
    client.triggers.create_or_update(rg, seeded, "TW", {"properties": changed})
    for props, code in [(tumbling("2024-02-01T00:00:00Z", 1), "TumblingWindowTriggerStartTimeUpdateNotAllowed"),
                        (tumbling("2024-01-01T00:00:00Z", 2), "TumblingWindowTriggerFrequencyOrIntervalUpdateNotAllowed")]:
        with pytest.raises(HttpResponseError) as err:
            client.triggers.create_or_update(rg, seeded, "TW", {"properties": props})
        assert err.value.error.code == code
    client.triggers.delete(rg, seeded, "TW")
    client.triggers.create_or_update(rg, seeded, "TW", {"properties": tumbling("2024-02-01T00:00:00Z", 2)})
