"""Signing in to the dashboards for real: ``certsight dashboard`` with ``[dashboard.oidc]``
pointing at an OpenID Connect provider on 127.0.0.1 (tests/dashboards/oidc.py), and
Chromium going through the authorization code flow as a person would: the dashboards'
Sign in button, the provider's login page, back to the dashboards with an ID token whose
``groups`` claim decides which audiences' pages the person sees.

Three people: a PKI engineer (group ``pki-team`` -> pki), an analyst (``soc`` -> cyber)
and someone in no mapped group, who is refused. Sign-out goes through the provider's
end-session page and leaves no session: a reload asks to sign in again. Each test has a
browser context of its own, so no cookie carries from one to the next.

Skipped, saying why, where Chromium or Playwright is missing (as tests/dashboards/
test_browser.py). Nothing is timed: Playwright waits for addresses and elements.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from certsight.settings import Home
from dashboards.catalog import PAGES, START
from tests.dashboards.browser import (
    Dashboard,
    Tab,
    chromium,
    free_port,
    new_tab,
    page_url,
    problems,
    settle,
    start_dashboard,
    titles,
    why_no_browser,
)
from tests.dashboards.oidc import (
    ANALYST,
    OUTSIDER,
    PKI_ENGINEER,
    SECRETS,
    Person,
    Provider,
    oidc_provider,
    signed_in_home,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
MISSING = why_no_browser()
USER_COOKIE = "_streamlit_user"  # Streamlit's signed cookie holding the ID token's claims
REFUSAL = "Your account is in no group that the dashboard grants access to"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
    # The provider (oidc-provider-mock, in this process) still calls an Authlib API that
    # Authlib deprecates; that is the test double's business, not the dashboards'.
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider() as running:
        yield running


@pytest.fixture(scope="module")
def dashboard(
    provider: Provider, warehouse_home: Home, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    port = free_port()  # the redirect URI names it, so it is chosen first
    root = tmp_path_factory.mktemp("signin") / "home"
    home = signed_in_home(root, provider, port, warehouse=warehouse_home.warehouse)
    running = start_dashboard(
        home.root, ARTIFACTS / "dashboard-signin.log", port=port, environ=SECRETS
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    with new_tab(browser) as opened:
        yield opened


def sign_in(page: Page, dashboard: Dashboard, provider: Provider, person: Person) -> None:
    """From the dashboards' sign-in prompt through the provider's login page and back."""
    page.goto(f"{dashboard.url}/", wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider.url}/oauth2/authorize?**")  # the provider's login page
    page.get_by_role("button", name=person.sub, exact=True).click()
    page.wait_for_url(f"{dashboard.url}/")  # after /oauth2callback, with the cookie set
    settle(page)


def navigation(page: Page) -> list[str]:
    """The page titles the sidebar's navigation offers."""
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    return [" ".join(text.split()[1:]) for text in links.all_inner_texts()]  # minus the icon


def signed_in_cookie(page: Page) -> bool:
    return any(cookie.get("name") == USER_COOKIE for cookie in page.context.cookies())


@pytest.mark.parametrize(
    ("person", "audience"), [(PKI_ENGINEER, "pki"), (ANALYST, "cyber")], ids=["pki", "cyber"]
)
def test_groups_decide_which_pages_a_person_sees(
    person: Person, audience: str, dashboard: Dashboard, provider: Provider, tab: Tab
) -> None:
    page = tab.page
    sign_in(page, dashboard, provider, person)
    page.get_by_text(f"Signed in as {person.email}").wait_for()
    mine = [spec for spec in PAGES if spec.audience == audience]
    assert navigation(page) == [START.title, *(spec.title for spec in mine)]

    page.goto(page_url(dashboard.url, mine[0]), wait_until="domcontentloaded")
    page.locator("h1").filter(has_text=mine[0].title).wait_for()
    settle(page)
    assert problems(tab) == []

    for other in (spec for spec in PAGES if spec.audience != audience):
        page.goto(page_url(dashboard.url, other), wait_until="domcontentloaded")
        settle(page)
        assert other.title not in titles(page), f"{person.sub} was shown {other.title}"


def test_a_person_in_no_mapped_group_is_refused(
    dashboard: Dashboard, provider: Provider, tab: Tab
) -> None:
    page = tab.page
    sign_in(page, dashboard, provider, OUTSIDER)
    page.get_by_text(REFUSAL).wait_for()
    assert titles(page) == ["certsight"]
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert page.get_by_test_id("stMetric").count() == 0  # no figure of any audience
    for spec in PAGES:  # no address gets past the refusal either
        page.goto(page_url(dashboard.url, spec), wait_until="domcontentloaded")
        page.get_by_text(REFUSAL).wait_for()
        settle(page)
        assert titles(page) == ["certsight"], spec.url_path


def test_nothing_is_shown_before_signing_in(dashboard: Dashboard, tab: Tab) -> None:
    page = tab.page
    for spec in (START, *PAGES):
        page.goto(page_url(dashboard.url, spec), wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").wait_for()
        settle(page)
        assert titles(page) == ["certsight"], spec.url_path
        assert page.get_by_test_id("stSidebarNav").count() == 0


def test_sign_out_ends_the_session(dashboard: Dashboard, provider: Provider, tab: Tab) -> None:
    page = tab.page
    sign_in(page, dashboard, provider, PKI_ENGINEER)
    page.get_by_text(f"Signed in as {PKI_ENGINEER.email}").wait_for()
    assert signed_in_cookie(page)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{provider.url}/oauth2/end_session?**")  # RP-initiated logout
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{dashboard.url}/")
    page.get_by_role("button", name="Sign in").wait_for()
    assert not signed_in_cookie(page)

    page.reload(wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").wait_for()
    settle(page)
    assert page.get_by_text("Signed in as").count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0
