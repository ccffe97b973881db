"""PKI team: who uses the PKI's published artefacts: trust-store and agent downloads by
zone and version, and which agent versions actually run (their User-Agent)."""

from __future__ import annotations

import streamlit as st

from dashboards import show
from dashboards.figures import adoption
from dashboards.figures.adoption import Adoption
from dashboards.ui import filters, header, run, window

found = window()
f = filters(found)
header("PKI · Trust stores and agents", adoption.INTRO, found, f)
numbers = Adoption.fetch(run, f)
show.kpis(numbers.kpis())

for column, chart in zip(st.columns(2), numbers.downloads_by_kind(), strict=True):
    with column:
        show.figure(chart)
show.figure(numbers.versions())
downloads = numbers.downloads_table()
with st.expander(downloads.title):
    show.table(downloads)
