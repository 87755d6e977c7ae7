"""The Azure Functions app (Python v2 programming model).

Registers the blueprints of ``functions/``. Heavy SDKs (databricks-sdk,
azure-mgmt-*, azure-monitor-*) are imported where they are used, never here,
so the app starts fast.
"""

import azure.functions as func

from functions import (
    approvals,
    branches,
    dashboard,
    deployments,
    environments,
    hooks,
    incidents,
    maintenance,
    metrics,
    schedules,
    worker,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (hooks, approvals, deployments, environments, metrics, incidents, worker, schedules, dashboard,
                  maintenance, branches):
    app.register_functions(blueprint.bp)
