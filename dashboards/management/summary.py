"""Management: the state of the PKI on one screen, with the trend against the period
before. No client addresses here; the few tables that could show one are pseudonymised."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from dashboards import show
from dashboards.figures import keys, summary
from dashboards.figures.keys import KeyExposure
from dashboards.figures.summary import Summary
from dashboards.kpis import SUMMARY_KPIS
from dashboards.ui import filters, for_management, header, run, window

found = window()
f = filters(found)
header("Management · Summary", summary.INTRO + ".", found, f)
numbers = Summary.fetch(run, f)
show.kpis(numbers.kpis(SUMMARY_KPIS), compared=f"vs prior {f.days} d")

left, right = st.columns(2)
with left:
    show.figure(numbers.weekly())
with right:
    show.figure(numbers.expiry_outlook())

left, right = st.columns(2)
with left:
    show.figure(numbers.validity())
    st.caption(numbers.validity_note())
with right:
    show.figure(numbers.open_alerts())

with st.expander("Certificates expiring in the next 30 days without a renewal"):
    soon = numbers.expiring_table()
    show.table(replace(soon, frame=for_management(soon.frame)))

st.subheader("Key exposure")
st.caption(keys.INTRO)
exposure = KeyExposure.fetch(run, f)
show.kpis(exposure.kpis())
left, right = st.columns(2)
with left:
    show.figure(exposure.by_profile())
with right:
    show.table(exposure.service_table())
    show.table(exposure.lag_table())
