"""Blueprint: the git push webhooks (SPEC section 3). Thin: read the raw request, call shared.ingest."""

from __future__ import annotations

import azure.functions as func

from functions._http import RAW, handle, json_response

bp = func.Blueprint()


def _receive(source: str, req: func.HttpRequest) -> func.HttpResponse:
    from shared import app as app_context
    from shared.ingest.intake import Intake

    ctx = app_context.current()
    intake = Intake(ctx.config, ctx.storage, ctx.ledger, ctx.settings, ctx.clock, ctx.components)
    result = intake.receive(source, dict(req.headers.items()), req.get_body() or b"")
    return json_response(result.body, result.status)


@bp.route(route="hooks/github", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@handle(body=RAW)
def github_hook(req: func.HttpRequest) -> func.HttpResponse:
    """GitHub ``push``, ``ping`` and ``pull_request`` (``X-Hub-Signature-256``)."""
    return _receive("github", req)


@bp.route(route="hooks/azure-devops", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@handle(body=RAW)
def azure_devops_hook(req: func.HttpRequest) -> func.HttpResponse:
    """Azure DevOps service hooks ``git.push``, ``git.pullrequest.merged``/``.updated`` (HTTP basic auth)."""
    return _receive("azure-devops", req)


@bp.route(route="hooks/gitlab", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@handle(body=RAW)
def gitlab_hook(req: func.HttpRequest) -> func.HttpResponse:
    """GitLab push and merge request hooks (``X-Gitlab-Token``)."""
    return _receive("gitlab", req)
