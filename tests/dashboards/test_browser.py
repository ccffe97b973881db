"""The dashboards as a user sees them: ``certsight dashboard`` over the fixture warehouse,
every page opened by its address in Chromium, the links from an alert followed and the
sidebar filters carried from page to page.

Each page's full-page screenshot is kept in tests/artifacts/screenshots/ (a CI artefact).
Skipped, saying why, where Chromium or Playwright is missing: ``make test`` installs
Chromium with apt where it can.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from certsight.settings import Home
from dashboards.catalog import (
    ALERTS_PAGE,
    CLIENT_PAGE,
    PAGES,
    SERVER_PAGE,
    START,
    PageSpec,
    page,
)
from tests.dashboards.browser import (
    Dashboard,
    Tab,
    chromium,
    new_tab,
    open_by_nav,
    open_page,
    page_url,
    problems,
    running_dashboard,
    screenshot,
    settle,
    titles,
    why_no_browser,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
MISSING = why_no_browser()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]


@pytest.fixture(scope="module")
def dashboard(warehouse_home: Home) -> Iterator[Dashboard]:
    with running_dashboard(warehouse_home.root, ARTIFACTS / "dashboard.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    with new_tab(browser) as opened:
        yield opened


@pytest.mark.parametrize("spec", [*PAGES, START], ids=[p.url_path for p in [*PAGES, START]])
def test_page_renders_without_errors(spec: PageSpec, dashboard: Dashboard, tab: Tab) -> None:
    open_page(tab.page, page_url(dashboard.url, spec), spec.title)
    screenshot(tab.page, SCREENSHOTS / f"{spec.url_path}.png")

    assert problems(tab) == []
    assert titles(tab.page) == [spec.title]
    nav = tab.page.get_by_test_id("stSidebarNav").get_by_role("link")
    assert nav.count() == len(PAGES) + 1  # every audience's pages and the start page


def _follow(tab: Tab, dashboard: Dashboard, pattern: str, target: PageSpec) -> str:
    """On the alert queue, follow the first link whose text matches; return its subject."""
    alerts = page(ALERTS_PAGE)
    open_page(tab.page, page_url(dashboard.url, alerts), alerts.title)
    link = tab.page.get_by_test_id("stPageLink-NavLink").filter(has_text=re.compile(pattern))
    try:  # the queue's links come with its last rerun, later than the title on a busy machine
        link.first.wait_for(state="visible", timeout=60_000)
    except PlaywrightTimeoutError:
        pytest.fail(f"the first alert has no link matching {pattern!r}")
    found = re.search(pattern, link.first.inner_text())
    assert found is not None
    subject = found.group(1)
    link.first.click()
    tab.page.locator("h1").filter(has_text=target.title).first.wait_for()
    settle(tab.page)
    screenshot(tab.page, SCREENSHOTS / f"{target.url_path}-from-alert.png")
    assert problems(tab) == []
    assert titles(tab.page) == [target.title]
    assert urlsplit(tab.page.url).path == f"/{target.url_path}"
    return subject


def test_alert_links_open_the_server_and_the_client(dashboard: Dashboard, tab: Tab) -> None:
    server = _follow(tab, dashboard, r"What relies on (\S+)", page(SERVER_PAGE))
    assert parse_qs(urlsplit(tab.page.url).query)["server"] == [server]
    assert tab.page.get_by_label("Server (host name or part of it)").input_value() == server
    assert tab.page.get_by_text("Clients in the period").is_visible()
    assert tab.page.get_by_text(f"No server's host contains {server!r}").count() == 0

    client = _follow(tab, dashboard, r"Where (\S+) connects", page(CLIENT_PAGE))
    assert parse_qs(urlsplit(tab.page.url).query)["client"] == [client]
    assert tab.page.get_by_label("Client IP address (or its start)").input_value() == client
    assert tab.page.get_by_text("Servers in the period").is_visible()


def test_filters_carry_across_pages(dashboard: Dashboard, tab: Tab) -> None:
    first, second, third = page("management/summary.py"), page(ALERTS_PAGE), page(SERVER_PAGE)
    open_page(tab.page, page_url(dashboard.url, first), first.title)
    sidebar = tab.page.get_by_test_id("stSidebar")
    zones = sidebar.get_by_test_id("stMultiSelect").filter(has_text="Zones")
    zones.get_by_role("combobox").click()
    options = [o for o in tab.page.get_by_role("option").all_inner_texts() if o != "Select all"]
    assert options, "the Zones filter offers no zone"
    zone = options[0]
    tab.page.get_by_role("option", name=zone, exact=True).click()
    tab.page.keyboard.press("Escape")
    settle(tab.page)

    def selected() -> list[str]:
        return zones.locator("[data-tag]").all_inner_texts()

    assert selected() == [zone]
    for spec in (second, third):
        open_by_nav(tab.page, spec.title)
        assert selected() == [zone], f"the zone was not kept on {spec.title}"
    assert problems(tab) == []
