"""Screenshots of each audience's main page for the documentation: ``certsight dashboard``
on a home, Debian's Chromium driven by Playwright, a 1600x1000 window, the whole page.

    python bench/screenshots.py               # a small simulated home, built in a temp folder
    python bench/screenshots.py --home DIR    # an existing home with a warehouse

Writes docs/screenshots/<audience>.png and exits non-zero if a page shows an error. The
browser helpers are the dashboard browser tests' (tests/dashboards/browser.py): one copy
of the waiting rules that keep the shots from being blank.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
sys.path.insert(0, str(ROOT))


from certsight.settings import Home  # noqa: E402
from dashboards.catalog import PAGES, PageSpec  # noqa: E402
from tests.dashboards.browser import (  # noqa: E402
    chromium,
    new_tab,
    open_by_nav,
    page_title,
    problems,
    running_dashboard,
    screenshot,
    settle,
    why_no_browser,
)
from tests.dashboards.fixture_home import build_fixture_home  # noqa: E402

WIDTH, HEIGHT = 1600, 1000


def main_pages() -> list[PageSpec]:
    """The first page of each audience, in the catalog's order."""
    first: dict[str, PageSpec] = {}
    for spec in PAGES:
        first.setdefault(spec.audience, spec)
    return list(first.values())


def shoot(home: Path, out: Path, work: Path) -> list[str]:
    """Every main page's screenshot; the problems the pages showed."""
    found: list[str] = []
    with running_dashboard(home, work / "dashboard.log") as dashboard, chromium() as browser:
        for spec in main_pages():
            with new_tab(browser, WIDTH, HEIGHT) as tab:
                # Through the sidebar, as a reader would.
                tab.page.goto(f"{dashboard.url}/", wait_until="domcontentloaded")
                tab.page.locator("h1").first.wait_for()
                settle(tab.page)
                open_by_nav(tab.page, spec.title)
                page_title(tab.page, spec.title)
                path = out / f"{spec.audience}.png"
                screenshot(tab.page, path)
                shown = problems(tab)
                found += [f"{spec.title}: {problem}" for problem in shown]
                print(
                    f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
                    f"  {spec.title}{'  PROBLEMS: ' + '; '.join(shown) if shown else ''}"
                )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="a home with a warehouse (default: a demo)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT.relative_to(ROOT)}")
    args = parser.parse_args()
    missing = why_no_browser()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="certsight-screenshots-") as scratch:
        work = Path(scratch)
        if args.home:
            home = Home.resolve(args.home)
            if not home.warehouse.exists():
                print(f"no warehouse at {home.warehouse}: run certsight build", file=sys.stderr)
                return 2
        else:
            print("building a demo home (simulated, 14 days) ...")
            home = build_fixture_home(work / "home")
        found = shoot(home.root, args.out, work)
        if found:
            print((work / "dashboard.log").read_text(errors="replace"), file=sys.stderr)
    print(f"done in {time.monotonic() - started:.0f} s")
    for problem in found:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
