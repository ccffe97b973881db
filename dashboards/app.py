"""The dashboard's entry: who may see what, then routing. Pages live in one folder per
audience and do their own work."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` adds only ours

from dashboards.access import audiences_for, groups_of
from dashboards.catalog import PAGES, START
from dashboards.settings import AUDIENCE_TITLES, AUDIENCES, current_settings

st.set_page_config(page_title="certsight", page_icon="🔐", layout="wide")
settings = current_settings()  # handed over by `certsight dashboard`

if settings.oidc is None:
    allowed: tuple[str, ...] = AUDIENCES
else:
    if not st.user.is_logged_in:
        st.title("certsight")
        st.write("Sign in with your organisation's account to see the dashboards.")
        if st.button("Sign in", type="primary"):
            st.login()
        st.stop()
    allowed = audiences_for(groups_of(st.user.to_dict(), settings.oidc.groups_claim), settings)
    st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'user'}")
    st.sidebar.button("Sign out", on_click=st.logout)
    if not allowed:
        st.title("certsight")
        st.error(
            "Your account is in no group that the dashboard grants access to. "
            "Ask the PKI team to map one of your groups in [dashboard.audiences]."
        )
        st.stop()

st.session_state["certsight_audiences"] = allowed
start = st.Page(START.path, title=START.title, icon=START.icon, default=True)
sections = {
    "certsight": [start],
    **{
        AUDIENCE_TITLES[audience]: [
            st.Page(spec.path, title=spec.title, url_path=spec.url_path, icon=spec.icon)
            for spec in PAGES
            if spec.audience == audience
        ]
        for audience in allowed
    },
}
st.navigation(sections, expanded=True).run()
