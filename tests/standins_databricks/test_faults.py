"""Fault injection: unit behaviour of the injector, and the SDK's retries against the stand-in."""

from __future__ import annotations

import base64

import pytest
from databricks.sdk.errors.platform import InternalError, RequestLimitExceeded
from databricks.sdk.service.workspace import ImportFormat, Language

from devhost.standins.databricks import DatabricksStandIn
from devhost.standins.faults import FaultInjector, RequestInfo


def info(path: str = "/api/2.0/workspace/import", route: str = "workspace.import", body: bytes = b"") -> RequestInfo:
    return RequestInfo("POST", path, route, body=body)


def test_error_rate_is_deterministic_per_seed() -> None:
    def decisions(seed: int) -> list[int | None]:
        inj = FaultInjector(seed)
        inj.add(r"workspace\.import", error_rate=0.3, error_statuses=(500, 503))
        return [f.status if (f := inj.apply(info())) else None for _ in range(200)]

    first = decisions(7)
    assert first == decisions(7)
    assert first != decisions(8)
    failures = sum(1 for d in first if d is not None)
    assert 30 <= failures <= 90
    assert {d for d in first if d is not None} == {500, 503}


def test_token_bucket_answers_429_with_retry_after() -> None:
    now = [100.0]
    inj = FaultInjector(clock=lambda: now[0])
    inj.add("workspace.import", rate_per_s=2, burst=2)
    assert inj.apply(info()) is None and inj.apply(info()) is None
    fault = inj.apply(info())
    assert fault is not None and fault.status == 429 and fault.headers == {"Retry-After": "1"}
    now[0] += 0.5  # one token refilled
    assert inj.apply(info()) is None
    assert inj.apply(info()) is not None


def test_latency_predicate_max_faults_and_route_matching() -> None:
    slept: list[float] = []
    inj = FaultInjector(sleep=slept.append)
    inj.add(r"^POST /api/2\.0/workspace/", latency_s=0.05)
    rule = inj.add("workspace.import", fail_when=lambda r: b"poison" in r.body, fail_status=500, max_faults=1)
    assert inj.apply(info(body=b"fine")) is None
    fault = inj.apply(info(body=b"poison"))
    assert fault is not None and fault.status == 500
    assert inj.apply(info(body=b"poison")) is None  # max_faults reached
    assert inj.apply(RequestInfo("GET", "/api/2.0/workspace/list", "workspace.list")) is None
    assert slept == [0.05, 0.05, 0.05]
    inj.remove(rule)
    inj.clear()
    assert inj.rules == []


def test_sdk_honours_429_retry_after(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.faults.add(r"workspace\.import", rate_per_s=1, burst=1)
    for i in range(2):
        w.workspace.import_(f"/Shared/n{i}", content=base64.b64encode(b"x").decode(),
                            format=ImportFormat.SOURCE, language=Language.PYTHON)
    assert databricks_standin.exists("/Shared/n0") and databricks_standin.exists("/Shared/n1")
    counters = databricks_standin.counters
    assert counters.count("workspace.import", status=429) >= 1
    assert counters.count("workspace.import", status=200) == 2


def test_sdk_does_not_retry_multipart_upload(databricks_standin: DatabricksStandIn) -> None:
    # workspace.upload posts a multipart form (a dict `data`), which the SDK treats as a
    # non-seekable stream: it does not retry it. Product code must retry uploads itself.
    w = databricks_standin.client()
    databricks_standin.faults.add(r"workspace\.import", rate_per_s=1, burst=1)
    w.workspace.upload("/Shared/u0", b"x", language=Language.PYTHON)
    with pytest.raises(RequestLimitExceeded):
        w.workspace.upload("/Shared/u1", b"x", language=Language.PYTHON)
    assert not databricks_standin.exists("/Shared/u1")


def test_sdk_retries_503_and_counts(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.faults.add(r"workspace\.import", error_rate=1.0, error_statuses=(503,), max_faults=1)
    w.workspace.import_("/Shared/r", content=base64.b64encode(b"x").decode(), format=ImportFormat.SOURCE,
                        language=Language.PYTHON)
    assert databricks_standin.counters.by_status()[("workspace.import", 503)] == 1
    assert databricks_standin.counters.count("workspace.import") == 2
    databricks_standin.counters.reset()
    assert databricks_standin.counters.snapshot() == {}


def test_failing_one_object_by_predicate(databricks_standin: DatabricksStandIn) -> None:
    w = databricks_standin.client()
    databricks_standin.faults.add(r"workspace\.import", fail_status=500,
                                  fail_when=lambda r: r.param("path") == "/Shared/bad")
    w.workspace.upload("/Shared/good", b"x", language=Language.PYTHON, format=ImportFormat.SOURCE)
    w.workspace.import_("/Shared/ok", content=base64.b64encode(b"x").decode(), format=ImportFormat.SOURCE,
                        language=Language.PYTHON)
    with pytest.raises(InternalError):
        w.workspace.import_("/Shared/bad", content=base64.b64encode(b"x").decode(),
                            format=ImportFormat.SOURCE, language=Language.PYTHON)
    assert not databricks_standin.exists("/Shared/bad")
    assert databricks_standin.exists("/Shared/good")
