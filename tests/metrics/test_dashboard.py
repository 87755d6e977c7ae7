"""The dashboard page: served by the dev host, rendered by headless Chromium (Playwright)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from devhost.azurite import free_port
from shared.app import AppContext

from .conftest import Client
from .history import write_history

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def ids(app_ctx: AppContext) -> dict[str, str]:
    return write_history(app_ctx.ledger, app_ctx.clock)  # type: ignore[arg-type]


def test_page_is_self_contained(client: Client, ids: dict[str, str]) -> None:
    status, html = client.call("GET", "dashboard?days=30")
    assert status == 200
    assert html.count('class="chart deployments-chart"') == 3 and html.count('class="chart lead-time-chart"') == 3
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert f'href="/api/deployments/{ids["D9"]}"' in html
    assert "DORA 2024" in html


def test_bad_dashboard_parameters_are_400(client: Client, app_ctx: AppContext) -> None:
    for query, code in (("days=-1", "invalid_days"), ("environment=nope", "unknown_environment"),
                        ("colour=red", "unknown_parameter")):
        status, body = client.call("GET", f"dashboard?{query}")
        assert status == 400 and body["error"] == code


@pytest.fixture
def served(client: Client, app_ctx: AppContext, ids: dict[str, str]) -> Iterator[str]:
    # The app's functions can be indexed once per process: serve through the client's host.
    port = free_port()
    server = client.host.serve_http(port=port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_dashboard_renders_in_headless_chromium(served: str, ids: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            response = page.goto(f"{served}/api/dashboard?days=30")
            assert response is not None and response.status == 200
            page.wait_for_selector("section#env-prod svg.deployments-chart")
            assert page.title() == "DataOps dashboard"
            prod = page.locator("section#env-prod")
            # one segment per (day, status): Feb 1 s; 2 f+s; 3 s; 4 rb+s; 5 s+superseded; 6 s
            assert prod.locator("svg.deployments-chart rect.bar").count() == 9
            assert prod.locator('svg.deployments-chart rect.bar[data-status="failed"]').count() == 1
            # commits reached prod on Feb 1, 2, 3, 5 and 6 (D6 redeployed a known commit)
            assert prod.locator("svg.lead-time-chart circle.point").count() == 5
            box = prod.locator("svg.deployments-chart").bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            assert prod.locator("tr.key").count() == 4
            assert prod.locator("span.tier").first.inner_text() in ("elite", "high", "medium", "low")
            assert errors == []  # checked before leaving: the JSON page below has no favicon of its own
            link = prod.locator(f'a[href="/api/deployments/{ids["D9"]}"]')
            assert link.count() == 1
            link.click()
            page.wait_for_load_state()
            assert ids["D9"] in page.content()
        finally:
            browser.close()
    assert all(u.startswith(served) or u.startswith("data:") for u in requests), requests
