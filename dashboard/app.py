"""Streamlit dashboard: log in, then Live, Alerts, Timeline, Analytics, Models and Runs pages.

Reads the SQLite store and the published live frames (never torch, never the pipeline); writes
only its own rows (sessions, reviews, label records, audit). Start it with
``monitor dashboard --db out/monitor.db`` (127.0.0.1, no telemetry). The page is chosen in the
sidebar and kept in the URL (``?page=alerts``), so a reload stays on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

from dashboard import alerts, analytics, auth, live, models, runs, timeline
from dashboard.state import Ctx, client_id, md, parse_args

PAGES: dict[str, Callable[[Ctx], None]] = {
    "Live": live.page,
    "Alerts": alerts.page,
    "Timeline": timeline.page,
    "Analytics": analytics.page,
    "Models": models.page,
    "Runs": runs.page,
}


def _sync_url() -> None:
    st.query_params["page"] = str(st.session_state["nav_page"]).lower()


def _nav() -> str:
    """Sidebar page choice, kept in ``?page=`` of the URL so a reload stays on the page."""
    names = list(PAGES)
    if st.session_state.get("nav_goto") in names:  # another page asked to switch (Timeline)
        st.session_state["nav_page"] = st.session_state.pop("nav_goto")
    if "nav_page" not in st.session_state:
        wanted = str(st.query_params.get("page", "")).lower()
        match = [n for n in names if n.lower() == wanted]
        st.session_state["nav_page"] = match[0] if match else names[0]
    choice = str(st.sidebar.radio("Page", names, key="nav_page", on_change=_sync_url))
    if st.query_params.get("page") != choice.lower():
        st.query_params["page"] = choice.lower()
    return choice


def main() -> None:
    """Page entry point: the login gate, the sidebar, the chosen page."""
    st.set_page_config(page_title="Video monitor", layout="wide")
    args = parse_args()
    db = Path(args.db)
    if not db.is_file():
        st.error(f"No store at {db.name}: run `monitor batch` (or `monitor live`) first.")
        return
    found = auth.gate(str(db))
    if found is None:
        st.title("Video monitor")
        return
    user, token = found
    ctx = Ctx(db, Path(args.models) if args.models else None, user, client_id(), token,
              args.stale_after)  # fmt: skip
    with st.sidebar:
        st.markdown(f"**{md(user.name)}** ({user.role})")
        if user.cameras is not None:
            st.caption(md("cameras: " + ", ".join(user.cameras)))
        if st.button("Log out"):
            auth.logout(str(db), token)
            st.success("Logged out.")
            return
    page = _nav()
    PAGES[page](ctx)


main()
