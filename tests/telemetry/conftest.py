from tests.deploy.conftest import deployers, repo  # noqa: F401  (the deploy suite's fixtures)
