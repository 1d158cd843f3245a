"""Streamlit dashboard (first page): log in, then review the alerts of a store.

Reads the SQLite store only (never torch, never the pipeline). Run with:
``MONITOR_DASHBOARD_PASSWORD=... streamlit run dashboard/app.py -- --db out/monitor.db``
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
from pathlib import Path

import streamlit as st

from monitor.store import StoreError, StoreReader, resolve_media

PASSWORD_ENV = "MONITOR_DASHBOARD_PASSWORD"
PASSWORD_HASH_ENV = "MONITOR_DASHBOARD_PASSWORD_SHA256"
DB_ENV = "MONITOR_DB"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", default=os.environ.get(DB_ENV, "out/monitor.db"))
    return parser.parse_known_args()[0]


def _expected_hash() -> str | None:
    """SHA-256 of the dashboard password, from the environment; None means none is set."""
    if os.environ.get(PASSWORD_HASH_ENV):
        return os.environ[PASSWORD_HASH_ENV].strip().lower()
    if os.environ.get(PASSWORD_ENV):
        return hashlib.sha256(os.environ[PASSWORD_ENV].encode()).hexdigest()
    return None


def _login() -> bool:
    """True once the user has entered the configured password; there is no default password."""
    expected = _expected_hash()
    if expected is None:
        st.error(
            f"No dashboard password is configured. Set {PASSWORD_ENV} (or {PASSWORD_HASH_ENV}) "
            "in the environment of the dashboard process and restart it."
        )
        return False
    if st.session_state.get("authenticated"):
        return True
    with st.form("login"):
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        given = hashlib.sha256(password.encode()).hexdigest()
        if hmac.compare_digest(given, expected):
            st.session_state["authenticated"] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def _alerts_page(db: Path) -> None:
    try:
        reader = StoreReader(db)
    except StoreError as err:
        st.warning(str(err))
        return
    try:
        alerts = reader.alerts(limit=1000)
        media_root = reader.media_root()
    finally:
        reader.close()
    cameras = sorted({a.camera_id for a in alerts})
    kinds = sorted({a.kind for a in alerts})
    col1, col2 = st.columns(2)
    camera = col1.selectbox("Camera", ["all", *cameras])
    kind = col2.selectbox("Kind", ["all", *kinds])
    shown = [
        a for a in alerts
        if camera in ("all", a.camera_id) and kind in ("all", a.kind)
    ]  # fmt: skip
    st.metric("Alerts", len(shown))
    rows = [
        {
            "camera": a.camera_id, "kind": a.kind, "rule": a.rule,
            "severity": a.severity, "start (s)": round(a.start_time, 2),
            "end (s)": round(a.end_time, 2), "tracks": ", ".join(map(str, a.track_ids)),
            "score": round(a.score, 3), "explanation": a.explanation,
        }
        for a in shown
    ]  # fmt: skip
    st.dataframe(rows, width="stretch", hide_index=True)
    for a in shown[:20]:
        with st.expander(f"{a.camera_id} · {a.rule} · t={a.start_time:.1f}s"):
            st.write(a.explanation)
            snap = resolve_media(media_root, a.snapshot_path)
            if snap is not None:
                st.image(str(snap))
            st.json(a.data, expanded=False)


def main() -> None:
    """Page entry point."""
    st.set_page_config(page_title="Video monitor", layout="wide")
    st.title("Video monitor: alerts")
    if not _login():
        return
    db = Path(_args().db)
    st.caption(f"Store: {db.name}")
    _alerts_page(db)


main()
