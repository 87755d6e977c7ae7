"""The ingestion tests use the deployment tests' fixtures (local repository, recording deployers)."""

from tests.deploy.conftest import deployers, repo

__all__ = ["deployers", "repo"]
