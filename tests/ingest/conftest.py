"""The ingestion tests use the deployment tests' fixtures (local repository, recording deployers)."""

from collections.abc import Iterator

import pytest

from shared.audit import AuditLedger
from shared.clock import FakeClock
from shared.storage import StorageAccount
from tests.deploy.conftest import deployers, repo

from .helpers import serving

__all__ = ["deployers", "gh", "repo"]


@pytest.fixture
def gh(storage: StorageAccount, clock: FakeClock) -> Iterator[AuditLedger]:
    """The app serving the GitHub repository ``helpers.GH`` for the test; its ledger."""
    with serving(storage, clock) as ctx:
        yield ctx.ledger
