"""Timeline page: alerts per camera along wall-clock time; brush a span to filter Alerts."""

from __future__ import annotations

from datetime import datetime, timezone

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.alerts import RANGE_KEY
from dashboard.state import Ctx, fmt_time, reader
from monitor.store.queries import AlertFilter, AlertQuery

BUCKETS = {"1 minute": 60.0, "10 minutes": 600.0, "1 hour": 3600.0, "1 day": 86400.0}


def _auto_bucket(first: float | None, last: float | None) -> str:
    span = (last or 0.0) - (first or 0.0)
    for name, seconds in BUCKETS.items():
        if span / seconds <= 200:
            return name
    return "1 day"


def _brushed_range(event: object) -> tuple[float, float] | None:
    """(since, until) in epoch seconds from an altair interval selection, None if none."""
    try:
        sel = event.selection["brush"]  # type: ignore[attr-defined]
        lo, hi = sel["time"]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    to_s = lambda v: v / 1000.0 if isinstance(v, (int, float)) else pd.Timestamp(v).timestamp()
    return to_s(lo), to_s(hi)


def page(ctx: Ctx) -> None:
    """Render the Timeline page."""
    st.header("Timeline")
    with reader(ctx) as r:
        q = AlertQuery(r)
        facets = q.facets(ctx.allowed)
        names = list(BUCKETS)
        bucket = st.selectbox(
            "Bucket", names, index=names.index(_auto_bucket(facets.first, facets.last))
        )
        rows = q.timeline(AlertFilter(allowed_cameras=ctx.allowed), BUCKETS[str(bucket)])
    if not rows:
        st.info("No alerts yet.")
        return
    df = pd.DataFrame(rows, columns=["camera", "t", "alerts"])
    df["time"] = [datetime.fromtimestamp(t, timezone.utc) for t in df["t"]]
    brush = alt.selection_interval(name="brush", encodings=["x"])
    chart = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("time:T", title="wall-clock time (UTC)"),
            y=alt.Y("sum(alerts):Q", title="alerts"),
            color=alt.Color("camera:N"),
            tooltip=["camera:N", "time:T", "alerts:Q"],
        )
        .add_params(brush)
    )
    event = st.altair_chart(chart, on_select="rerun", key="timeline", width="stretch")
    span = _brushed_range(event)
    st.caption(f"{int(df['alerts'].sum()):,} alerts in {df['camera'].nunique()} cameras")
    if span is not None:
        st.write(f"Selected: {fmt_time(span[0])} to {fmt_time(span[1])}")
        if st.button("Show these alerts"):
            st.session_state[RANGE_KEY] = span
            st.session_state["nav_goto"] = "Alerts"
            st.rerun()
