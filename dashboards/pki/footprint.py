"""PKI: the CA footprint by client type: which client software relies on which CA, so
issuance can be split across CAs by client type, and so the team sees who is affected if
a CA is retired or moves to a new algorithm."""

from __future__ import annotations

import streamlit as st

from dashboards import show
from dashboards.figures import footprint
from dashboards.figures.footprint import Footprint
from dashboards.ui import filters, header, run, window

found = window()
f = filters(found)
header("PKI · CA footprint by client type", footprint.INTRO + ".", found, f)
used = Footprint.fetch(run, f)
show.kpis(used.kpis())
show.figure(used.heatmap())
st.subheader("Client software by CA")
show.table(used.footprint_table())
