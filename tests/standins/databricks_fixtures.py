"""Pytest fixtures for the Databricks workspace stand-in (registered in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .databricks import DatabricksStandIn


@pytest.fixture
def databricks_standin() -> Iterator[DatabricksStandIn]:
    """A fresh stand-in per test on 127.0.0.1 (free port, random token, 0.2 s state transitions).

    Exposes ``.url``, ``.token``, ``.faults``, ``.counters``, seed helpers (``seed_notebook``,
    ``seed_folder``, ``seed_file``, ``edit_by_hand``, ``add_cluster``, ``add_warehouse``,
    ``add_job``), readers (``read_source``, ``object``, ``paths``) and product wiring
    (``target()``, ``settings()``, ``client()``).
    """
    standin = DatabricksStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()
