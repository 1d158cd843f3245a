"""Analytics page: detections per class over time, alerts per zone/line, occupancy, false rates."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from dashboard.media import occupancy
from dashboard.state import Ctx, reader
from monitor.store.analytics import Analytics


def _class_counts(a: Analytics, ctx: Ctx) -> None:
    st.subheader("Detections per class over time")
    rows = a.class_counts(ctx.allowed, bucket_s=60.0)
    if not rows:
        st.info("No detection counts recorded yet.")
        return
    df = pd.DataFrame(rows, columns=["t", "camera", "class", "detections"])
    df["time"] = [datetime.fromtimestamp(t, timezone.utc) for t in df["t"]]
    wide = df.pivot_table(index="time", columns="class", values="detections", aggfunc="sum")
    st.line_chart(wide)
    st.caption("Batch inputs count from the start of their video (time 0 = 1970-01-01 UTC).")


def _per_rule(a: Analytics, ctx: Ctx) -> None:
    st.subheader("Alerts per zone, line and rule")
    rows = a.per_rule(ctx.allowed)
    if not rows:
        st.info("No alerts yet.")
        return
    df = pd.DataFrame(rows, columns=["camera", "kind", "rule", "alerts"])
    st.bar_chart(df, x="rule", y="alerts", color="kind")
    st.dataframe(df, hide_index=True, width="stretch")


def _false_rates(a: Analytics, ctx: Ctx) -> None:
    st.subheader("False-alert rate per rule (from reviews)")
    stats = a.review_stats(ctx.allowed)
    st.dataframe(
        [{"kind": s.kind, "rule": s.rule, "alerts": s.alerts, "reviewed": s.reviewed,
          "rejected as false": s.rejected,
          "false rate": None if s.false_rate is None else round(s.false_rate, 3)}
         for s in stats],
        hide_index=True, width="stretch",
    )  # fmt: skip


def _occupancy(ctx: Ctx) -> None:
    st.subheader("Occupancy heatmap")
    with reader(ctx) as r:
        cams = [c for c in _input_cameras(r) if ctx.may_see(c)]
        if not cams:
            st.info("No recorded inputs with detections.")
            return
        cam = st.selectbox("Camera", cams, key="occ_cam")
        got = occupancy(r, str(cam))
    if got is None:
        st.info("No detections recorded for this camera.")
        return
    img, frames = got
    st.image(img, caption=f"where objects stood (box bottom centres) over {frames} frames")


def _input_cameras(r) -> list[str]:  # type: ignore[no-untyped-def]
    rows = r.conn.execute("SELECT DISTINCT camera_id FROM sources ORDER BY 1").fetchall()
    return [str(x[0]) for x in rows]


def page(ctx: Ctx) -> None:
    """Render the Analytics page."""
    st.header("Analytics")
    with reader(ctx) as r:
        a = Analytics(r)
        _class_counts(a, ctx)
        _per_rule(a, ctx)
        _false_rates(a, ctx)
    _occupancy(ctx)
