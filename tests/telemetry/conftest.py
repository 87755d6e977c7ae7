from tests.deploy.conftest import dataops, deployers, repo  # noqa: F401  (the deploy suite's fixtures)
