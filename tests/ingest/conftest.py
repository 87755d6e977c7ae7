from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.deploy import model
from tests.deploy.helpers import CURRENT, LocalRepo, RecordingDeployer


@pytest.fixture
def repo(tmp_path: Path) -> LocalRepo:
    return LocalRepo(tmp_path / "data-platform")


@pytest.fixture
def deployers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, RecordingDeployer]]:
    """Register our own deployers for both components for the duration of a test."""
    CURRENT.clear()
    CURRENT["notebooks"] = RecordingDeployer("notebooks")
    CURRENT["adf"] = RecordingDeployer("adf")
    monkeypatch.setitem(model.DEPLOYERS, "notebooks", "tests.deploy.helpers:NotebooksDeployer")
    monkeypatch.setitem(model.DEPLOYERS, "adf", "tests.deploy.helpers:AdfDeployer")
    yield CURRENT
    CURRENT.clear()


@pytest.fixture
def spans() -> Iterator[object]:
    """An SDK tracer provider with an in-memory exporter (installed once per process)."""
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
