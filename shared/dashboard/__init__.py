"""The operator's dashboard: server-rendered HTML pages, no script, no build step, nothing external.

* ``GET /api/dashboard``: per environment an overview (:mod:`.overview`) and the DORA section
  (:mod:`shared.metrics.dashboard`);
* ``GET /api/dashboard/deployments/{id}``: one deployment (:mod:`.deployment`).

Every link carries the function key (``?code=``) the page was opened with (:class:`.html.Links`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from .html import Links, esc, page, utc

if TYPE_CHECKING:
    from ..app import AppContext

DAY_CHOICES = (7, 30, 90, 365)


def _nav(links: Links, days: int, environment: str | None) -> str:
    items = [f"<span>{d} days</span>" if d == days else links.a(links.dashboard(days=d, environment=environment),
                                                                  f"{d} days")
             for d in DAY_CHOICES]
    every = f" · {links.a(links.dashboard(days=days), 'all environments')}" if environment else ""
    return f'<nav class="days">Window: {"".join(items)}{every}</nav>'


def render_dashboard(ctx: AppContext, environments: Sequence[str], now: datetime, days: int, *,
                     code: str | None = None, only: str | None = None) -> str:
    """The dashboard page of ``environments`` over the ``days`` before ``now``."""
    from ..metrics.dashboard import dora_section, dora_view
    from .overview import gather, overview_card

    links = Links(code)
    cards = [overview_card(gather(ctx, env, now, days), links) for env in environments]
    m, bw = ctx.config.metrics, ctx.config.databricks.branch_workspaces
    doras = [dora_section(dora_view(ctx.ledger, env, now, days, definitions=m.definitions, benchmark=int(m.benchmark),
                                    include_branch_syncs=bool(bw and bw.count_in_dora)), links)
             for env in environments]
    if not cards:
        cards.append('<p class="empty">No environments are configured.</p>')
    body = (f'<header class="top"><h1>DataOps dashboard</h1><span class="muted">{days} days to {utc(now)}</span>'
            f"{_nav(links, days, only)}</header>"
            f'<div class="overview">{"".join(cards)}</div>{"".join(doras)}')
    return page("DataOps dashboard", body, now)


def render_deployment(ctx: AppContext, deployment_id: str, now: datetime, *, code: str | None = None) -> str:
    """The page of one deployment (NotFound for an unknown id, as the JSON route)."""
    from ..audit.queries import deployment_detail
    from .deployment import deployment_body

    detail = deployment_detail(ctx.ledger, deployment_id)
    return page(f"Deployment {detail['id']}", deployment_body(detail, Links(code)), now)


__all__ = ["Links", "esc", "render_dashboard", "render_deployment"]
