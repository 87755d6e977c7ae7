"""Shared fixtures: Azurite per test session (per xdist worker), unique storage names per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite, start_azurite
from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.settings import StorageNames
from shared.storage import StorageAccount

pytest_plugins = ["tests.fixtures.databricks", "tests.fixtures.arm"]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = (ROOT.parent / "shared" / "corpus").resolve()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def unique_prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def storage(azurite: Azurite, unique_prefix: str) -> StorageAccount:
    """The app's storage on Azurite with tables/queues/containers unique to this test."""
    return StorageAccount(connection_string=azurite.connection_string,
                          names=StorageNames(prefix=unique_prefix)).ensure()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(storage: StorageAccount, clock: FakeClock) -> AuditLedger:
    return AuditLedger(storage, clock)


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("public corpus ../shared/corpus is absent")
    return CORPUS


@pytest.fixture
def spans() -> Iterator[object]:
    """An in-memory span exporter on the process's SDK tracer provider (installed once per process)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture(autouse=True)
def _no_ambient_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never export telemetry anywhere; they use the SDK's in-memory exporter where needed.
    for name in ("APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("AZURE_CORE_ONLY_SHOW_ERRORS", "1")
