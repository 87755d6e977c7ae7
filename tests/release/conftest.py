from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.deploy import model

from .helpers import CURRENT, GitRepo, ReleaseDeployer


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "data-platform")


@pytest.fixture
def deployer(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReleaseDeployer]:
    """Our own deployer registered for the notebooks component for the duration of a test."""
    CURRENT["notebooks"] = ReleaseDeployer()
    monkeypatch.setitem(model.DEPLOYERS, "notebooks", "tests.release.helpers:NotebooksDeployer")
    yield CURRENT["notebooks"]
    CURRENT.clear()
