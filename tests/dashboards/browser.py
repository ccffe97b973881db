"""The dashboards in a real browser: ``certsight dashboard`` as a subprocess and Debian's
Chromium driven by Playwright (its own browser download is not used).

Shared by tests/dashboards/test_browser.py and bench/screenshots.py. It lives here
rather than in the product because the product must not depend on Playwright, and it is
imported lazily so that collecting the tests works without it.

Waiting for Streamlit (``settle``): a page is rendered when its title is shown, the app
is connected and no script runs (``stApp``'s ``data-test-script-state``, which
Streamlit's own browser tests use), the "Running..." status widget is gone, nothing is
stale, every chart has drawn and the page has stopped changing. A screenshot taken
earlier is a blank grey page or misses the last elements.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

from dashboards.catalog import START, PageSpec

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HEALTH_TIMEOUT = 60.0  # seconds for Streamlit to answer /_stcore/health
RENDER_TIMEOUT = 30_000  # milliseconds for one page to render
# An uncaught exception's first line ("KeyError: 'zone'", "StreamlitAPIException: ..."),
# not ordinary text that merely mentions errors ("Errors by zone").
_EXCEPTION_LINE = re.compile(
    r"^(Traceback \(most recent call last\)|[A-Z]\w*(Error|Exception)(:|$))"
)
QUIET_MS = 800  # no change to the page for this long: its last elements have been drawn
# Streamlit draws some elements (charts, page links) a few hundred milliseconds after the
# script has finished, so "not running" alone is not "rendered": the page must also have
# stopped changing. A MutationObserver notes the time of the last change.
_WATCH_CHANGES = """() => {
    if (window.__certsightLastChange === undefined) {
        window.__certsightLastChange = performance.now();
        new MutationObserver(() => { window.__certsightLastChange = performance.now(); })
            .observe(document, {subtree: true, childList: true, attributes: true,
                                characterData: true});
    }
}"""
_RENDERED = """(quiet) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED'
        || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    if (status && status.getClientRects().length > 0) return false;
    if (document.querySelector('[data-stale="true"]')) return false;
    const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
    const graphs = document.querySelectorAll('[data-testid="stGraphVizChart"]');
    if (![...charts].every((c) => c.querySelector('canvas, svg.marks'))) return false;
    if (![...graphs].every((g) => g.querySelector('svg'))) return false;
    return performance.now() - window.__certsightLastChange >= quiet;
}"""
_PAGE_HEIGHT = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    return Math.max(main ? main.scrollHeight : 0, document.documentElement.scrollHeight);
}"""


def chromium_executable() -> str | None:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


def why_no_browser() -> str | None:
    """Why the dashboards cannot be driven here, or None when they can."""
    if chromium_executable() is None:
        return (
            f"Chromium is not installed: the dashboard browser tests need {CHROMIUM} (or "
            "chromium on PATH); make test installs it with apt where it can "
            "(apt-get install chromium)"
        )
    if find_spec("playwright") is None:
        return (
            "playwright cannot be imported: the dashboard browser tests need it; "
            "make test installs it with the dev dependencies (pip install -e '.[dev]')"
        )
    return None


# -- the dashboard process --------------------------------------------------------------


class DashboardStartError(RuntimeError):
    """``certsight dashboard`` exited or never answered its health check."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dashboard:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the whole process group (certsight and its Streamlit child), then
        kill whatever is left."""
        group = self.process.pid  # its own session: the group id is its pid
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        while time.monotonic() < deadline and _group_alive(group):
            time.sleep(0.1)
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def start_dashboard(
    home: Path,
    log: Path,
    *,
    timeout: float = HEALTH_TIMEOUT,
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Dashboard:
    """``certsight dashboard --home HOME`` on a loopback port (a free one unless given),
    once it is healthy; ``environ`` adds to this process's environment (the sign-in
    secrets, for instance)."""
    port = port or free_port()
    certsight = Path(sys.executable).parent / "certsight"
    env = {k: v for k, v in os.environ.items() if k != "CERTSIGHT_WAREHOUSE"}  # the home's
    env.update(environ or {})
    argv = [str(certsight), "dashboard", "--home", str(home)]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # one signal stops certsight and Streamlit together
        )
    dashboard = Dashboard(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            dashboard.stop()
            raise DashboardStartError(
                f"certsight dashboard exited with {process.returncode}:\n{dashboard.output()}"
            )
        try:
            with urllib.request.urlopen(f"{dashboard.url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200 and reply.read().strip() == b"ok":
                    return dashboard
        except OSError:
            pass
        time.sleep(0.25)
    dashboard.stop()
    raise DashboardStartError(
        f"certsight dashboard did not answer /_stcore/health within {timeout:.0f} s:\n"
        f"{dashboard.output()}"
    )


@contextmanager
def running_dashboard(home: Path, log: Path) -> Iterator[Dashboard]:
    dashboard = start_dashboard(home, log)
    try:
        yield dashboard
    finally:
        dashboard.stop()


# -- the browser ------------------------------------------------------------------------


@contextmanager
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    if executable is None:
        raise RuntimeError(why_no_browser())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page of its own browser context, with the JavaScript errors it raised."""

    page: Page
    errors: list[str] = field(default_factory=list)


@contextmanager
def new_tab(browser: Browser, width: int = 1600, height: int = 1000) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(RENDER_TIMEOUT)
    try:
        tab = Tab(context.new_page())
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        yield tab
    finally:
        context.close()


def page_title(page: Page, title: str) -> None:
    """Wait for the page's h1 to contain the title."""
    page.locator("h1").filter(has_text=title).first.wait_for(state="visible")


def settle(page: Page) -> None:
    """Wait for the current script run to finish and all of its output to be drawn:
    connected, no script running, the "Running..." widget gone, nothing stale, every
    chart drawn, and the page unchanged for QUIET_MS."""
    page.evaluate(_WATCH_CHANGES)
    page.wait_for_function(_RENDERED, arg=QUIET_MS, polling=100, timeout=RENDER_TIMEOUT)


def open_page(page: Page, url: str, title: str) -> None:
    """Open a dashboard page by its address and wait until it has rendered."""
    page.goto(url, wait_until="domcontentloaded")
    page_title(page, title)
    page.wait_for_load_state("networkidle")  # once per document: after goto only
    settle(page)


def open_by_nav(page: Page, title: str) -> None:
    """Follow the sidebar's navigation link of a page and wait until it has rendered."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    page_title(page, title)
    settle(page)


def page_url(base: str, spec: PageSpec) -> str:
    """The start page is st.navigation's default, which Streamlit serves at "/" only."""
    return f"{base}/" if spec == START else f"{base}/{spec.url_path}"


def problems(tab: Tab) -> list[str]:
    """What Streamlit or the browser reported as going wrong on the page."""
    page = tab.page
    shown = {
        "exception shown": page.get_by_test_id("stException"),
        "error shown": page.get_by_test_id("stAlertContentError"),
        "exception text": page.get_by_text(_EXCEPTION_LINE),
        "dialog": page.get_by_role("dialog"),
    }
    found = [f"{what}: {text}" for what, where in shown.items() for text in where.all_inner_texts()]
    found += [f"JavaScript error: {error}" for error in tab.errors]
    return [" ".join(text.split()) for text in found]


def titles(page: Page) -> list[str]:
    return [" ".join(text.split()) for text in page.locator("h1").all_inner_texts()]


def screenshot(page: Page, path: Path) -> None:
    """The whole page. Streamlit scrolls its main area, not the document, so the
    viewport is made as tall as the content for the shot, then restored."""
    size = page.viewport_size or {"width": 1600, "height": 1000}
    page.mouse.move(size["width"] // 2, 1)  # no hover toolbar or sidebar button in the shot
    try:
        for _ in range(3):  # a taller window can reflow the page once more
            height = int(page.evaluate(_PAGE_HEIGHT))
            current = page.viewport_size or size
            if height <= current["height"]:
                break
            page.set_viewport_size({"width": size["width"], "height": height})
            settle(page)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
