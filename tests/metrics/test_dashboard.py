"""The dashboard: UTC buckets, links that keep the function key, escaping, and the pages in headless
Chromium (Playwright) at 1400 px and 390 px on a history with failures, incidents, approvals waiting
and a stopped environment. Screenshots go to pytest's tmp dir (paths printed)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest

from devhost.azurite import Azurite, free_port
from shared.app import AppContext, set_current
from shared.audit import CommitInfo, DeploymentRecord
from shared.audit.records import ObjectResult
from shared.clock import FakeClock
from shared.metrics.dashboard import KEYS, buckets, deployments_chart, dora_view, key_series_per_bucket, trend
from shared.metrics.dora import Window, compute_dora
from shared.metrics.report import dora_report, report_inputs, rollup_reader
from shared.settings import Settings
from shared.storage import StorageAccount, StorageNames
from tests.fixtures.identity import AUTH_ON

from .conftest import Client
from .dashboard_history import (
    HOSTILE_AUTHOR,
    HOSTILE_MESSAGE,
    HOSTILE_PATH,
    NOW,
    TRACE_ID,
    dashboard_config,
    write_dashboard_history,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
KEY = "k3y/with+odd=chars"  # a function key as Azure may issue it: must be URL-encoded in every link


# ------------------------------------------------------------------ pure
def _rec(n: int, queued: datetime, status: str = "succeeded") -> DeploymentRecord:
    return DeploymentRecord(id=f"20260201T000000{n:03d}Z-prod-adf-{n:08x}", environment="prod", component="adf",
                            commit=f"{n:040x}", status=status, queued_at=queued, ended_at=queued + timedelta(minutes=5),
                            commits=[CommitInfo(f"{n:040x}", queued - timedelta(hours=1))])


def test_daily_buckets_are_utc_days_across_midnight_and_offsets() -> None:
    # now is not midnight: buckets anchored on now - days labelled these a day early
    now = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    window = Window.last_days(now, 30)
    helsinki = ZoneInfo("Europe/Helsinki")
    recs = [_rec(1, datetime(2026, 2, 2, 23, 59, 59, tzinfo=UTC)),
            _rec(2, datetime(2026, 2, 3, 0, 0, 1, tzinfo=UTC)),
            _rec(3, datetime(2026, 2, 3, 10, 0, tzinfo=UTC), "failed"),  # a morning deployment
            _rec(4, datetime(2026, 2, 2, 21, 30, tzinfo=UTC).astimezone(helsinki))]  # 23:30 local, 21:30 UTC
    grid = buckets(window)
    assert grid.starts[0] == datetime(2026, 1, 30, tzinfo=UTC) and grid.starts[-1] == datetime(2026, 3, 1, tzinfo=UTC)
    assert len(grid.starts) == 31  # Jan 30 (partial) .. Mar 1 (partial)
    html = deployments_chart(compute_dora("prod", recs, [], window), grid)
    titles = re.findall(r"<title>([^<]*)</title></rect>", html)
    assert sorted(titles) == ["2026-02-02: 2 succeeded", "2026-02-03: 1 failed", "2026-02-03: 1 succeeded"]
    assert 'data-bucket="2026-02-03" ' in html and "2026-03-01</text>" in html


def test_weekly_buckets_start_on_monday_utc() -> None:
    grid = buckets(Window.last_days(datetime(2026, 3, 1, 12, 5, tzinfo=UTC), 90))
    assert grid.size == timedelta(days=7) and all(s.weekday() == 0 and s.hour == 0 for s in grid.starts)
    assert grid.index(datetime(2026, 2, 22, 23, 59, tzinfo=UTC)) == grid.index(datetime(2026, 2, 16, tzinfo=UTC))
    assert grid.label(0).endswith(f"to {grid.starts[0] + timedelta(days=6):%Y-%m-%d}")


def test_trend_knows_which_way_is_better() -> None:
    lead = next(k for k in KEYS if k.slug == "lead_time")
    freq = next(k for k in KEYS if k.slug == "deployment_frequency")
    assert trend(lead, {"lead_time": {"median_seconds": 3600}}, {"lead_time": {"median_seconds": 7200}}, 30)[0] == "better"
    assert trend(freq, {"deployment_frequency": {"per_week": 1}}, {"deployment_frequency": {"per_week": 2}}, 30) \
        == ("worse", "▼ -50% vs the previous 30 days (2.00/wk): worse")
    assert trend(lead, {"lead_time": {}}, {"lead_time": {}}, 7)[0] == "none"


# ------------------------------------------------------- history + host
@pytest.fixture(scope="module")
def world(azurite: Azurite, client: Client) -> Iterator[tuple[AppContext, dict[str, str]]]:
    """One history for the module (written once), served as the app's context."""
    storage = StorageAccount(connection_string=azurite.connection_string,
                             names=StorageNames(prefix="t" + uuid.uuid4().hex[:12])).ensure()
    clock = FakeClock(NOW)
    ctx = AppContext(settings=Settings(AUTH_ON), clock=clock, _config=dashboard_config(), _storage=storage)
    ids = write_dashboard_history(ctx.ledger, clock, storage)
    clock.set(NOW)
    set_current(ctx)
    try:
        yield ctx, ids
    finally:
        set_current(None)


def test_page_is_self_contained_and_escaped(client: Client, world: tuple[AppContext, dict[str, str]]) -> None:
    _, ids = world
    status, html = client.call("GET", "dashboard?days=30&code=" + quote(KEY, safe=""))
    assert status == 200
    assert html.count('class="chart deployments-chart"') == 3 and html.count('svg class="spark"') == 18
    assert "<script" not in html and "<img" not in html and "onerror=" not in html.replace("onerror=&quot;", "")
    assert not re.search(r'(src|href)="(https?:)?//', html)
    hrefs = re.findall(r'href="([^"]*)"', html)
    pages = [h for h in hrefs if not h.startswith("data:")]
    assert pages and all("code=k3y%2Fwith%2Bodd%3Dchars" in h for h in pages), pages
    assert f'href="/api/dashboard/deployments/{ids["D10"]}?code=k3y%2Fwith%2Bodd%3Dchars"' in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert html.count("tiers: dora, DORA 2024;") == 3 and "Failed deployment recovery time" in html  # metrics: defaults


def test_bad_parameters_are_400_and_unknown_deployment_404(client: Client,
                                                          world: tuple[AppContext, dict[str, str]]) -> None:
    for query, code in (("days=-1", "invalid_days"), ("environment=nope", "unknown_environment"),
                        ("colour=red", "unknown_parameter")):
        status, body = client.call("GET", f"dashboard?{query}")
        assert status == 400 and body["error"] == code
    status, body = client.call("GET", "dashboard/deployments/20260101T000000000Z-prod-adf-00000000")
    assert status == 404 and body["error"] == "unknown_deployment"
    status, body = client.call("GET", "dashboard/deployments/not-an-id")
    assert status in (400, 404) and "error" in body
    status, body = client.call("GET", f"dashboard/deployments/{world[1]['D2']}?x=1")
    assert status == 400 and body["error"] == "unknown_parameter"


@pytest.mark.parametrize("days", [30, 90])
def test_the_dora_section_is_the_api_numbers_read_once(world: tuple[AppContext, dict[str, str]], days: int) -> None:
    """One read serves the section: its reports are GET /api/metrics/dora's for the two windows and the
    sparklines are one compute_dora per bucket (as they were computed before), on the same history."""
    ctx, _ = world
    for env in ("prod", "dev"):
        view = dora_view(ctx.ledger, env, NOW, days)
        assert view.report.to_json() == dora_report(ctx.ledger, env, NOW, days).to_json()
        assert view.previous.to_json() == dora_report(ctx.ledger, env, NOW - timedelta(days=days), days).to_json()
        history, incidents = report_inputs(ctx.ledger, env, view.report.window, rollup_reader(ctx.ledger, env, NOW))
        assert view.series == key_series_per_bucket(env, history, incidents, view.report.window, view.buckets)
    assert any(v for v in dora_view(ctx.ledger, "prod", NOW, days).series["change_failure_rate"])


# -------------------------------------------------------------- Chromium
@pytest.fixture(scope="module")
def served(client: Client, world: Any) -> Iterator[str]:
    # The app's functions can be indexed once per process: serve through the client's host.
    port = free_port()
    client.host.keys.set_host_key("legacy", KEY)  # an older, plain base64 host key: opens every page
    server = client.host.serve_http(port=port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(served: str) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """Console errors, page errors, dialogs (an executed script would alert/set a flag) and requests."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.errors.append(f"dialog {d.message}"), d.dismiss()))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def _no_overflow(page: Any) -> None:
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal overflow: scrollWidth {width[0]} > innerWidth {width[1]}"


def _shot(page: Any, out: Any, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


@contextmanager
def _viewing(browser: Any, width: int, factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Watch, Any]]:
    """A page of ``width`` CSS pixels, its watch, and the directory its screenshots go to."""
    out = factory.mktemp(f"dashboard-{width}px")
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        yield page, Watch(page), out
    finally:
        context.close()


def test_dashboard_at_1400px(browser: Any, served: str, world: tuple[AppContext, dict[str, str]],
                             tmp_path_factory: pytest.TempPathFactory) -> None:
    _, ids = world
    with _viewing(browser, 1400, tmp_path_factory) as (page, watch, out):
        response = page.goto(f"{served}/api/dashboard?days=30&code={quote(KEY, safe='')}")
        assert response is not None and response.status == 200
        assert page.title() == "DataOps dashboard"
        assert page.evaluate("() => window.__pwned") is None
        _shot(page, out, "dashboard-1400")
        _no_overflow(page)
        # --- overview: deployed commit per component, status
        prod = page.locator("section#env-prod")
        assert prod.get_attribute("data-status") == "waiting"
        adf = prod.locator("table.components tbody tr").filter(has_text="adf")
        assert "202020202020 " + HOSTILE_MESSAGE in adf.inner_text()  # deployed commit and its message, as text
        assert "waiting approval " + ids["W1"] in adf.inner_text()  # the latest deployment of adf
        assert "2026-02-27 10:12 UTC" in adf.inner_text()
        assert prod.locator("table.components tbody tr").filter(has_text="notebooks").count() == 1
        # --- waiting deployments with who may approve them
        waiting = prod.locator("table.waiting tbody tr")
        assert waiting.count() == 1
        assert "except the people of the change: alice@contoso.example (as alice), bob@contoso.example (as bob, bob@example.com)" in waiting.inner_text()
        assert ids["W1"] in waiting.inner_text()
        test_waiting = page.locator("section#env-test table.waiting tbody tr")
        assert "nobody yet" in test_waiting.inner_text() and "zed" in test_waiting.inner_text()
        # --- schedule: stopped since, next stop/start in UTC and the environment's zone
        dev = page.locator("section#env-dev")
        assert "stopped" in dev.locator(".schedule").inner_text()
        assert "since 2026-02-27 18:00 UTC (schedule)" in dev.locator(".schedule").inner_text()
        assert dev.locator("dd.next-start").inner_text() == "2026-03-02 06:00 UTC (Mon 2026-03-02 07:00 Europe/Amsterdam)"
        assert dev.locator("dd.next-stop").inner_text().startswith("2026-03-01 18:00 UTC")
        assert "running" in prod.locator(".schedule").inner_text()
        # --- drift and incidents
        drift = prod.locator("table.drift tbody tr")
        assert drift.count() == 1 and HOSTILE_PATH in drift.inner_text()
        assert "dashboards stale" in prod.locator("table.incidents").inner_text()
        # --- DORA keys: tier, trend against the previous 30 days, one sparkline each
        dora = page.locator("section#dora-prod")
        keys = dora.locator(".key")
        assert keys.count() == 6
        freq = dora.locator('.key[data-key="deployment_frequency"]')
        assert freq.locator(".tier").inner_text() in ("elite", "high", "medium", "low")
        assert "vs the previous 30 days" in freq.locator(".trend").inner_text()
        assert "better" in freq.locator(".trend").get_attribute("class")  # 8 successes against 1 (D0)
        assert dora.locator('svg.spark[data-key="deployment_frequency"] polyline').count() >= 1
        assert dora.locator('svg.spark[data-key="deployment_frequency"] rect.point').count() == 31
        # --- charts use the width; buckets labelled by their UTC day
        box = dora.locator("svg.deployments-chart").bounding_box()
        assert box is not None and box["width"] > 550, box
        assert dora.locator('svg.deployments-chart rect.bar[data-status="failed"]').get_attribute(
            "data-bucket") == "2026-02-02"  # D2, Feb 2 10:00 UTC (a day early before)
        # --- links keep the function key
        hrefs = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)")
        assert hrefs and all("code=k3y%2Fwith%2Bodd%3Dchars" in h for h in hrefs), hrefs
        assert watch.errors == []
        # --- drill down into the failed deployment
        dora.locator(f'table.latest a[href*="{ids["D2"]}"]').click()
        page.wait_for_selector("section.head")
        _shot(page, out, "deployment-1400")
        _no_overflow(page)
        assert ids["D2"] in page.locator("section.head h1").inner_text()
        assert page.locator("code.trace-id").inner_text() == TRACE_ID
        failure = page.locator("section.failure")
        assert "DeploymentFailed" in failure.inner_text() and "8d1c7c2e-1111-2222-3333-444455556666" in failure.inner_text()
        assert "<script>window.__pwned = 1</script>" in failure.inner_text()  # shown as text, not run
        steps = page.locator("table.steps tbody tr")
        assert steps.count() == 3
        assert [steps.nth(i).locator(".duration").inner_text() for i in range(3)] == ["1 min", "18 min", "1 min"]
        objects = page.locator("table.object-results tbody tr")
        assert [objects.nth(i).locator(".name").inner_text() for i in range(3)] == ["pl_orders", "tr_daily",
                                                                                     "ds_archive"]
        assert "2026-02-02 10:18:00 UTC" in objects.nth(1).inner_text()
        assert "BadRequest: the trigger's pipeline is invalid" in objects.nth(1).inner_text()
        assert page.locator("table.plan-actions tbody tr").count() == 3
        assert page.evaluate("() => window.__pwned") is None
        assert watch.errors == []
        assert all((u.startswith(served) and "code=k3y%2Fwith%2Bodd%3Dchars" in u) or u.startswith("data:")
                   for u in watch.requests), watch.requests


def test_dashboard_at_390px(browser: Any, served: str, world: tuple[AppContext, dict[str, str]],
                            tmp_path_factory: pytest.TempPathFactory) -> None:
    _, ids = world
    with _viewing(browser, 390, tmp_path_factory) as (page, watch, out):
        page.goto(f"{served}/api/dashboard?days=30&code={quote(KEY, safe='')}")
        _shot(page, out, "dashboard-390")
        _no_overflow(page)
        # one column: every environment card and every key card starts at the same x
        for selector in ("section.environment", "section#dora-prod .key"):
            xs = {round(b["x"]) for b in page.eval_on_selector_all(
                selector, "els => els.map(e => e.getBoundingClientRect().toJSON())")}
            assert len(xs) == 1, (selector, xs)
        # tables stack into labelled blocks (no header row, each cell says what it is)
        cell = page.locator("section#env-prod table.waiting tbody td").first
        assert page.locator("section#env-prod table.waiting thead").is_hidden()
        assert cell.evaluate("e => getComputedStyle(e, '::before').content") == '"Deployment: "'
        box = page.locator("section#dora-prod svg.deployments-chart").bounding_box()
        assert box is not None and 300 < box["width"] <= 390
        page.goto(f"{served}/api/dashboard/deployments/{ids['D10']}?code={quote(KEY, safe='')}")
        _shot(page, out, "deployment-390")
        _no_overflow(page)
        assert HOSTILE_AUTHOR in page.locator("table.commits").inner_text()
        assert HOSTILE_MESSAGE in page.locator("table.commits").inner_text()
        assert page.evaluate("() => window.__pwned") is None
        assert watch.errors == []


def test_object_results_come_back_in_the_order_they_happened(ledger: Any) -> None:
    """Rows are keyed by name (a rewrite is a no-op); the page lists them by the time each happened."""
    dep = _rec(7, datetime(2026, 2, 1, tzinfo=UTC))
    ledger.create_deployment(dep)
    ledger.record_objects(dep.id, [ObjectResult("trigger", "z_stop", "stop", "succeeded", at="2026-02-01T10:00:00Z"),
                                   ObjectResult("pipeline", "b_pipe", "update", "succeeded",
                                                at="2026-02-01T10:00:01Z")])
    ledger.record_objects(dep.id, [ObjectResult("dataset", "a_ds", "update", "failed", "boom",
                                                at="2026-02-01T10:05:00Z"),
                                   ObjectResult("trigger", "c_known_earlier", "start", "succeeded",
                                                at="2026-02-01T10:01:00Z")])
    assert [o.name for o in ledger.objects(dep.id)] == ["z_stop", "b_pipe", "c_known_earlier", "a_ds"]
