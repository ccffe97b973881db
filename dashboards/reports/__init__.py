"""Offline reports: each audience's dashboard pages as one self-contained HTML file, plus
CSV files of the tables behind it, for people who read their mail rather than dashboards.

Pure building only (no Streamlit, no files, no settings): ``sections`` builds the pages'
figures (``dashboards.figures``) and arranges them per audience (``pki``, ``cyber``,
``management``; ``evidence`` keeps client addresses pseudonymous), ``svg`` renders the
shared Altair charts offline with vl-convert, ``html`` writes the page and the CSVs. The
adapter that reads settings, opens the warehouse and delivers is ``certsight.reporting``.
"""

from __future__ import annotations

from dashboards.reports.model import (
    AUDIENCES,
    DEFAULT_PERIODS,
    PERIODS,
    Figure,
    Kpi,
    Report,
    Section,
    Table,
    period_filters,
)

__all__ = [
    "AUDIENCES",
    "DEFAULT_PERIODS",
    "PERIODS",
    "Figure",
    "Kpi",
    "Report",
    "Section",
    "Table",
    "period_filters",
]
