"""PKI team: the load on the validation services per CA: OCSP requests, the share the
CDN and caches absorb, the responder's latency, errors, and CRL downloads."""

from __future__ import annotations

import streamlit as st

from dashboards import show
from dashboards.figures import validation
from dashboards.figures.validation import Validation
from dashboards.ui import filters, header, run, window

found = window()
f = filters(found)
header("PKI · Validation load", validation.INTRO, found, f)
numbers = Validation.fetch(run, f)
show.kpis(numbers.kpis())

show.figure(numbers.requests())
if not numbers.load.empty:  # one note for the three charts when there is no traffic
    left, right = st.columns(2)
    with left:
        show.figure(numbers.hit_ratio())
    with right:
        show.figure(numbers.latency())
if not numbers.crl.empty:
    show.figure(numbers.crl_downloads())
with st.expander("The numbers per day and CA"):
    show.table(numbers.load_table())
