from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import GitRepo, ReleaseDeployer


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "data-platform")


@pytest.fixture
def deployer() -> ReleaseDeployer:
    """Our own deployer for the notebooks component (``deployer.registry()`` is handed to the orchestrator)."""
    return ReleaseDeployer()
