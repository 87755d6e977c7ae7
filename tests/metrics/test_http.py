"""HTTP handlers through the dev host's dispatcher: history, detail, metrics, incidents, 400s."""

from __future__ import annotations

from typing import Any

import pytest

from shared.app import AppContext
from shared.audit import ObjectResult, StepRecord
from shared.audit.records import Activity

from .conftest import Client, platform_config
from .history import ENV, t, write_history


@pytest.fixture
def ids(app_ctx: AppContext) -> dict[str, str]:
    out = write_history(app_ctx.ledger, app_ctx.clock)  # type: ignore[arg-type]
    return out


def test_history_newest_first_with_pages(client: Client, ids: dict[str, str]) -> None:
    status, body = client.call("GET", f"deployments?environment={ENV}&limit=4")
    assert status == 200
    assert [i["id"] for i in body["items"]] == [ids["D9"], ids["D8"], ids["D7"], ids["D6"]]
    seen = [i["id"] for i in body["items"]]
    token = body["continuation"]
    while token:
        status, body = client.call("GET", f"deployments?environment={ENV}&limit=4&continuation={token}")
        assert status == 200
        seen += [i["id"] for i in body["items"]]
        token = body["continuation"]
    assert seen == [ids[f"D{n}"] for n in range(9, -1, -1)]


@pytest.mark.parametrize(("query", "expected"), [
    ("status=failed", ["D2"]),
    ("component=notebooks", ["D7"]),
    ("actor=bob", ["D3", "D2"]),
    ("since=2026-02-04T00:00:00Z&until=2026-02-05T10:30:00Z", ["D7", "D6", "D5"]),
    ("until=2026-01-31", ["D0"]),
    ("commit=0606", ["D8", "D5"]),
])
def test_history_filters(client: Client, ids: dict[str, str], query: str, expected: list[str]) -> None:
    status, body = client.call("GET", f"deployments?environment={ENV}&{query}")
    assert status == 200, body
    assert [i["id"] for i in body["items"]] == [ids[e] for e in expected]


def test_history_over_all_environments(client: Client, ids: dict[str, str]) -> None:
    status, body = client.call("GET", "deployments?limit=100")
    assert status == 200 and body["count"] == 10 and body["continuation"] is None


def test_environment_history_merges_activities(client: Client, app_ctx: AppContext, ids: dict[str, str]) -> None:
    app_ctx.ledger.record_activity(Activity(environment=ENV, kind="trigger_toggle", key="toggle-1",
                                            at=t(5, 10, 30), actor="ops", status="stopped",
                                            summary="stopped trigger nightly"))
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        status, body = client.call("GET", f"deployments?environment={ENV}&include=activity&limit=3"
                                          + (f"&continuation={token}" if token else ""))
        assert status == 200, body
        items += body["items"]
        token = body["continuation"]
        if not token:
            break
    kinds = [(i["type"], i.get("kind")) for i in items]
    assert len(items) == 10 + 3 + 1  # deployments, incidents, the toggle
    assert len({i["id"] for i in items}) == len(items)
    assert kinds.count(("activity", "incident")) == 3 and kinds.count(("deployment", None)) == 10
    # newest first: the Q1 incident (Feb 7) leads, D0 (Jan 25) closes
    assert items[0]["id"] == ids["Q1"] and items[-1]["id"] == ids["D0"]
    toggle = next(i for i in items if i.get("kind") == "trigger_toggle")
    pos = items.index(toggle)
    assert items[pos - 1]["id"] == ids["D8"] and items[pos + 1]["id"] == ids["D7"]


def test_detail_has_plan_steps_objects_and_status_history(client: Client, app_ctx: AppContext,
                                                          ids: dict[str, str]) -> None:
    ledger = app_ctx.ledger
    dep = ids["D4"]
    ledger.update_deployment(dep, allow_final=True, plan={"actions": [{"op": "update", "name": "pl_orders"}]})
    ledger.record_step(StepRecord(dep, 1, "deploy_template", "succeeded", t(3, 10), t(3, 10, 10)))
    ledger.record_objects(dep, [ObjectResult("pipeline", "pl_orders", "update", "succeeded")])
    status, body = client.call("GET", f"deployments/{dep}")
    assert status == 200
    assert body["id"] == dep and body["plan"]["actions"][0]["name"] == "pl_orders"
    assert [s["name"] for s in body["steps"]] == ["deploy_template"]
    assert [{k: v for k, v in o.items() if k != "at"} for o in body["objects"]] == [{"object_type": "pipeline", "name": "pl_orders", "action": "update",
                                "status": "succeeded", "error": None, "details": {}}]
    assert [h["status"] for h in body["status_history"]] == ["queued", "running", "succeeded"]


def test_unknown_deployment_is_404(client: Client, app_ctx: AppContext) -> None:
    status, body = client.call("GET", "deployments/20260101T000000000Z-prod-adf-00000000")
    assert status == 404 and body["error"] == "unknown_deployment"
    status, body = client.call("GET", "deployments/not-an-id")
    assert status == 404


@pytest.mark.parametrize(("query", "code", "words"), [
    ("environment=Prod!", "invalid_environment", "environment"),
    ("environment=staging", "unknown_environment", "staging"),
    ("component=sql", "invalid_component", "component"),
    ("status=done", "invalid_status", "status"),
    ("since=yesterday", "invalid_time", "since"),
    ("until=2026-13-01", "invalid_time", "until"),
    ("since=2026-02-02&until=2026-02-01", "invalid_time", "after"),
    ("limit=0", "invalid_limit", "limit"),
    ("limit=ten", "invalid_limit", "limit"),
    ("limit=5000", "invalid_limit", "1000"),
    ("commit=xyz", "invalid_commit", "commit"),
    ("continuation=@@@", "invalid_continuation", "continuation"),
    ("enviroment=prod", "unknown_parameter", "enviroment"),
    ("include=everything", "invalid_include", "include"),
])
def test_bad_history_parameters_are_400(client: Client, app_ctx: AppContext, query: str, code: str,
                                        words: str) -> None:
    status, body = client.call("GET", f"deployments?{query}")
    assert status == 400, body
    assert body["error"] == code and words in body["message"]


def test_dora_endpoint(client: Client, ids: dict[str, str]) -> None:
    status, body = client.call("GET", "metrics/dora?environment=prod&days=30&group_by=developer")
    assert status == 200
    assert body["change_failure_rate"]["value"] == 0.5 and body["lead_time"]["median_seconds"] == 9000.0
    assert sorted(body["by_developer"]) == ["alice", "bob", "carol"] and body["group_by"] == "author"
    # The Four Keys variant and the 2023 table, asked for (the configuration's defaults otherwise).
    status, fk = client.call("GET", "metrics/dora?definitions=fourkeys&benchmark=2023&group_by=pusher")
    assert status == 200 and fk["definitions"] == "fourkeys" and fk["benchmark"] == "DORA 2023"
    assert fk["change_failure_rate"]["value"] == pytest.approx(2 / 7) and fk["group_by"] == "pusher"
    assert fk["change_failure_rate"]["benchmark"] == "DORA 2023" and fk["by_developer"]["carol"]["deployments"] == 3
    # the production environment is the default
    status, default = client.call("GET", "metrics/dora")
    assert status == 200 and default["environment"] == "prod" and default["deployments"] == 8


def test_dora_endpoint_follows_the_configured_definitions_and_tiers(client: Client, app_ctx: AppContext,
                                                                   ids: dict[str, str]) -> None:
    app_ctx._config = platform_config(definitions="fourkeys", benchmark="2023")  # as metrics: in the YAML
    status, body = client.call("GET", "metrics/dora")
    assert status == 200 and (body["definitions"], body["benchmark"]) == ("fourkeys", "DORA 2023")
    assert body["time_to_restore"]["median_seconds"] == 13500.0  # I1 from D4's end (Four Keys)
    status, body = client.call("GET", "metrics/dora?definitions=dora&benchmark=2024")
    assert status == 200 and (body["definitions"], body["benchmark"]) == ("dora", "DORA 2024")


@pytest.mark.parametrize(("query", "code"), [
    ("days=0", "invalid_days"), ("days=abc", "invalid_days"), ("days=99999", "invalid_days"),
    ("environment=nope", "unknown_environment"), ("group_by=team", "invalid_group_by"),
    ("window=3", "unknown_parameter"), ("definitions=devlake", "invalid_definitions"),
    ("benchmark=2021", "invalid_benchmark"), ("benchmark=latest", "invalid_benchmark"),
])
def test_bad_metrics_parameters_are_400(client: Client, app_ctx: AppContext, query: str, code: str) -> None:
    status, body = client.call("GET", f"metrics/dora?{query}")
    assert status == 400 and body["error"] == code and body["message"]


def test_open_and_resolve_an_incident_over_http(client: Client, app_ctx: AppContext, ids: dict[str, str]) -> None:
    status, body = client.call("POST", "incidents", {"environment": "prod", "title": "late loads",
                                                     "opened_at": "2026-02-06T13:00:00Z", "actor": "mallory"})
    assert status == 201, body
    assert body["deployment_id"] == ids["D9"] and body["cause"]["kind"] == "attributed"
    # The signed-in caller, never the body's actor, and how it is known.
    assert body["actor"] == "ops@contoso.example" and body["status"] == "open"
    assert (body["actor_verified"], body["actor_source"]) == (True, "app_service")
    status, again = client.call("POST", "incidents", {"environment": "prod", "title": "late loads",
                                                      "opened_at": "2026-02-06T13:00:00Z"})
    assert status == 200 and again["id"] == body["id"]
    status, done = client.call("POST", f"incidents/{body['id']}/resolve",
                               {"resolved_at": "2026-02-06T15:00:00Z", "actor": "mallory"}, as_user="sre@contoso.example")
    assert status == 200 and done["status"] == "resolved" and done["resolved_at"] == "2026-02-06T15:00:00+00:00"
    assert (done["resolved_by"], done["resolved_by_verified"], done["resolved_by_source"]) == \
        ("sre@contoso.example", True, "app_service")
    # Stored that way (what the DORA restore time and the audit read), and listed that way.
    stored = app_ctx.ledger.get_activity(body["id"])
    assert stored.actor == "ops@contoso.example" and stored.data["resolved_by"] == "sre@contoso.example"
    status, listed = client.call("GET", "incidents?environment=prod")
    mine = next(i for i in listed["items"] if i["id"] == body["id"])
    assert (mine["actor_verified"], mine["actor_source"], mine["resolved_by_source"]) == (True, "app_service", "app_service")


@pytest.mark.parametrize("path", ["incidents", "incidents/prod~1-incident-x/resolve"])
def test_incident_writes_need_a_signed_in_caller_whatever_the_body_says(client: Client, app_ctx: AppContext,
                                                                        path: str) -> None:
    body = {"environment": "prod", "title": "late", "actor": "ops@contoso.example"} if path == "incidents" \
        else {"actor": "ops@contoso.example"}
    status, answer = client.call("POST", path, body, as_user=None)
    assert status == 401 and answer["error"] == "identity_required"
    assert list(app_ctx.ledger.iter_activity(ENV)) == []


@pytest.mark.parametrize(("body", "code"), [
    (b"not json", "invalid_json"),
    ({"title": "x"}, "invalid_environment"),
    ({"environment": "nope", "title": "x"}, "unknown_environment"),
    ({"environment": "prod", "title": "x", "kind": "outage"}, "invalid_kind"),
    ({"environment": "prod"}, "invalid_title"),
    ({"environment": "prod", "title": "x", "opened_at": "soon"}, "invalid_time"),
    ({"environment": "prod", "title": "x", "caused_by": "zzz"}, "invalid_cause"),
    ({"environment": "prod", "title": "x", "severity": 1}, "unknown_field"),
    ({"environment": "prod", "title": 5}, "invalid_title"),
])
def test_bad_incidents_are_400_and_record_nothing(client: Client, app_ctx: AppContext, body: Any,
                                                  code: str) -> None:
    status, answer = client.call("POST", "incidents", body)
    assert status == 400 and answer["error"] == code and answer["message"]
    assert list(app_ctx.ledger.iter_activity(ENV)) == []


def test_resolving_an_unknown_incident_is_404(client: Client, app_ctx: AppContext) -> None:
    status, body = client.call("POST", "incidents/prod~123-incident-abc/resolve", {})
    assert status == 404 and body["error"] == "unknown_incident"

