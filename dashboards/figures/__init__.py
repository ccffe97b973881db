"""Every figure the dashboards and reports show, each built by one function: KPIs,
Altair charts (or the sentence that replaces an empty one) and tables, renderer-neutral
(``model``). A page draws them with Streamlit (``dashboards.show``), a report as HTML
and SVG (``dashboards.reports``).

By subject, as the pages are: ``certificates``, ``validation`` and ``adoption`` (PKI
team), ``alerts`` and ``exposure`` (cyber defence), ``summary`` (management). A subject's
queries are asked once (``fetch``, through the caller's ``Ask``); its methods build the
figures from what came back.
"""
