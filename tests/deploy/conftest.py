from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.deploy import model

from .helpers import CURRENT, LocalRepo, RecordingDeployer


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

