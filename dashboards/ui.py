"""What every page needs: the warehouse (read-only, cached), the filters, the header that
says how fresh the data is, links between pages, and exports that respect privacy.

Query results are cached per warehouse file: a build renames a new file over the old
one, which changes its inode and mtime, so the next render attaches the new file (and
closes the old connection) and the old results age out.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import duckdb
import pandas as pd
import streamlit as st

from dashboards import queries
from dashboards.catalog import CLIENT_PAGE, SERVER_PAGE, page
from dashboards.privacy import load_key, pseudonymise, safe_csv
from dashboards.queries import Filters
from dashboards.settings import current_settings, home_root
from pki.duckdb_sandbox import connect_sandboxed

WAREHOUSE_ENV = "CERTSIGHT_WAREHOUSE"
DEFAULT_DAYS = 14
T = TypeVar("T")


def warehouse_path() -> Path:
    chosen = os.environ.get(WAREHOUSE_ENV)
    return Path(chosen) if chosen else home_root() / "warehouse.duckdb"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


def _close(con: duckdb.DuckDBPyConnection) -> None:
    con.close()


@st.cache_resource(max_entries=1, show_spinner=False, on_release=_close)
def _connection(path: str, stamp: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    """The warehouse, sandboxed (``pki.duckdb_sandbox``): attached read-only to a fresh
    in-memory database, so that after a build renamed a new file over the path the pages
    read the new one; in UTC for every cursor; no file, extension or setting within reach
    of a query. The pages read the marts only, so the LAKE is not within reach either."""
    del stamp  # part of the cache key only: a new file is a new attachment
    return connect_sandboxed(Path(path), catalog="warehouse")


@st.cache_data(max_entries=1024, show_spinner=False)
def _cached(name: str, args: tuple[Any, ...], path: str, stamp: tuple[int, int]) -> Any:
    cursor = _connection(path, stamp).cursor()  # one cursor per query: thread-safe
    try:
        cursor.execute("use warehouse")
        return getattr(queries, name)(cursor, *args)
    finally:
        cursor.close()


def run(query: Callable[..., T], *args: Any) -> T:
    """A query of ``dashboards.queries`` over the current warehouse, cached."""
    path = warehouse_path()
    stamp = _stamp(path)
    if stamp is None:
        _no_warehouse(path)
    result: T = _cached(query.__name__, args, str(path), stamp)
    return result


def _no_warehouse(path: Path) -> NoReturn:
    st.info(
        f"There is no warehouse at `{path}` yet. It appears after the first build: "
        "`make run` builds one within a minute, or run `certsight ingest` then "
        "`certsight build`. This page refreshes when you reload it."
    )
    st.stop()
    raise AssertionError("st.stop() returned")  # it raises; this tells the type checker


def window() -> dict[str, Any]:
    found = run(queries.data_window)
    if found["last_day"] is None:
        st.info("The warehouse holds no validation traffic yet: nothing to show.")
        st.stop()
    return found


# -- filters that carry across pages ----------------------------------------------------
# Streamlit forgets a widget's value when a page without it runs, so each filter keeps
# its value under a plain key and the widget is re-seeded from it on every page.

_KEPT = "certsight_filters"


def _keep(name: str) -> None:
    st.session_state.setdefault(_KEPT, {})[name] = st.session_state[f"_filter_{name}"]


def _seed(name: str, default: Any) -> str:
    key = f"_filter_{name}"
    kept = st.session_state.setdefault(_KEPT, {})
    st.session_state[key] = kept.get(name, default)
    return key


def filters(found: dict[str, Any] | None = None) -> Filters:
    """The sidebar filters (period, zones, CAs), as the user last set them anywhere."""
    found = found or window()
    first: date = found["first_day"]
    last: date = found["last_day"]
    default = (max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last)
    kept = st.session_state.get(_KEPT, {}).get("period")
    # While a range is being picked the widget holds its first day only: keep that.
    if kept and not all(first <= day <= last for day in kept):
        st.session_state[_KEPT].pop("period")  # a rebuild moved the data's window
    side = st.sidebar
    side.subheader("Filters")
    period: Any = side.date_input(
        "Period (UTC days)",
        min_value=first,
        max_value=last,
        key=_seed("period", default),
        on_change=_keep,
        args=("period",),
        help=f"Applies to every page. Data runs from {first:%Y-%m-%d} to {last:%Y-%m-%d}.",
    )
    zones = side.multiselect(
        "Zones",
        run(queries.zone_options),
        key=_seed("zones", []),
        on_change=_keep,
        args=("zones",),
        help="Clients' zones for traffic, servers' zones for certificates. Empty: all.",
    )
    cas = run(queries.ca_options)
    chosen = side.multiselect(
        "Certificate authorities",
        list(cas),
        format_func=lambda key: cas.get(key, key),
        key=_seed("cas", []),
        on_change=_keep,
        args=("cas",),
        help="Empty: all.",
    )
    if isinstance(period, tuple) and len(period) == 2:
        start, end = period
    else:  # the user has picked the first day of a new range only
        start = end = period[0] if isinstance(period, tuple) and period else last
    return Filters(start, end, tuple(zones), tuple(chosen))


# -- page furniture ---------------------------------------------------------------------


def header(title: str, intro: str, found: dict[str, Any], f: Filters | None = None) -> None:
    st.title(title)
    st.caption(intro)
    built = found["built_at"]
    newest = found["newest_event"]
    parts = [
        f"Data up to **{newest:%Y-%m-%d %H:%M} UTC**" if newest is not None else "",
        f"warehouse built {built:%Y-%m-%d %H:%M} UTC" if built is not None else "",
        f"period **{f.start:%Y-%m-%d} → {f.end:%Y-%m-%d}** ({f.days} days)" if f else "",
    ]
    st.markdown(" · ".join(p for p in parts if p))


def allowed(audience: str) -> bool:
    """Whether the router granted this audience (nothing, if it did not run)."""
    return audience in st.session_state.get("certsight_audiences", ())


def _link(path: str, param: str, value: str, label: str) -> None:
    spec = page(path)
    if value and allowed(spec.audience):
        st.page_link(spec.path, label=label, icon=spec.icon, query_params={param: value})


def link_server(server: str) -> None:
    _link(SERVER_PAGE, "server", server, f"What relies on {server}")


def link_client(client_ip: str) -> None:
    _link(CLIENT_PAGE, "client", client_ip, f"Where {client_ip} connects")


def subject(
    param: str,
    label: str,
    find: Callable[..., list[str]],
    *,
    hint: str,
    missing: str,
    browse: Callable[[], str | None] | None = None,
) -> str:
    """What a server or client page is about: the ``?param=`` of a link, or what the user
    types into the search box, narrowed to one of the matches ``find`` returns. With an
    empty box the page opens on ``browse`` (a ranked list to pick from) rather than on
    nothing; it stops with a hint until there is a choice, and the choice goes back into
    the URL, so the view can be bookmarked and shared."""
    asked = st.query_params.get(param, "")
    text = st.text_input(label, value=asked, key=f"{param}_search")
    if not text.strip():
        picked = browse() if browse is not None else None
        if not picked:
            st.info(hint)
            st.stop()
        st.query_params[param] = picked
        return str(picked)
    matches = run(find, text)
    if not matches:
        st.warning(missing.format(text=text))
        st.stop()
    chosen = matches[0]
    if len(matches) > 1:
        chosen = st.selectbox("Matches", matches, key=f"{param}_pick")
    if chosen != asked:
        st.query_params[param] = chosen
    return str(chosen)


def _privacy_key() -> bytes:
    return load_key(home_root(), current_settings().privacy.key_env)


def for_management(table: pd.DataFrame) -> pd.DataFrame:
    if current_settings().privacy.pseudonymise_management:
        return pseudonymise(table, _privacy_key())
    return table


def download(table: pd.DataFrame, name: str, label: str = "Download CSV") -> None:
    """A CSV of the table, made only when clicked (formatting tens of thousands of rows
    takes a second: no page waits for it); client addresses pseudonymised unless the
    settings allow them in exports."""
    reveal = not current_settings().privacy.pseudonymise_exports
    key = b"" if reveal else _privacy_key()

    def contents() -> bytes:
        return safe_csv(table if reveal else pseudonymise(table, key))

    st.download_button(
        label,
        contents,
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"download_{name}",
        on_click="ignore",
    )
