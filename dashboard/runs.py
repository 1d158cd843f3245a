"""Runs page: batch and live runs with their inputs and summaries; dead runs show interrupted."""

from __future__ import annotations

import streamlit as st

from dashboard.state import Ctx, fmt_time, reader
from monitor.store.analytics import Analytics


def page(ctx: Ctx) -> None:
    """Render the Runs page."""
    st.header("Runs")
    with reader(ctx) as r:
        runs = Analytics(r).run_statuses(ctx.stale_after_s)
        if not runs:
            st.info("No runs recorded yet.")
            return
        st.dataframe(
            [{"run": s.run.id[:12], "kind": s.run.kind, "status": s.status,
              "started": fmt_time(s.run.started_at), "finished": fmt_time(s.run.finished_at),
              "last activity": fmt_time(s.last_activity), "inputs": s.inputs}
             for s in runs],
            hide_index=True, width="stretch",
        )  # fmt: skip
        st.caption(
            f"A run still marked running with no activity for {ctx.stale_after_s / 60:.0f} min "
            "is shown as interrupted (its process ended without closing it)."
        )
        ids = [s.run.id for s in runs]
        pick = st.selectbox("Run", ids, format_func=lambda i: i[:12], key="run_pick")
        chosen = next(s for s in runs if s.run.id == pick)
        sources = [src for src in r.sources(chosen.run.id) if ctx.may_see(src.camera_id)]
    st.dataframe(
        [{"input": s.camera_id, "status": s.status, "frames": s.frames, "fps": s.fps,
          "error": s.error or "", "updated": fmt_time(s.updated_at)} for s in sources],
        hide_index=True, width="stretch",
    )  # fmt: skip
    st.json(chosen.run.summary, expanded=False)
