from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.cli import main

from .helpers import Deployers, LocalRepo, RecordingDeployer


@pytest.fixture
def repo(tmp_path: Path) -> LocalRepo:
    return LocalRepo(tmp_path / "data-platform")


@pytest.fixture
def deployers() -> Deployers:
    """Our own deployers for both components; ``deployers.components`` is handed to what runs them."""
    return Deployers(notebooks=RecordingDeployer("notebooks"), adf=RecordingDeployer("adf"))



@pytest.fixture
def dataops(deployers: Deployers) -> Callable[[list[str]], int]:
    """The CLI, deploying with our own deployers."""
    return lambda argv: main(argv, components=deployers.components)
