"""Alerts page: filters, paging and totals in SQL; CSV export of the filtered rows; evidence.

Nothing here loads more than one page of rows: the total is ``COUNT(*)`` over the same
``WHERE`` clause, and the export streams from SQL only when the download is clicked.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import streamlit as st

from dashboard.evidence import show_evidence
from dashboard.state import Ctx, fmt_time, reader, viewer_tz
from monitor.store.queries import AlertFilter, AlertQuery, Facets
from monitor.store.review import STATUSES

PAGE_SIZES = (25, 50, 100)
RANGE_KEY = "alerts_range"  # (since, until) set by the Timeline page's brush


def _day_bounds(days: tuple[date, ...]) -> tuple[float | None, float | None]:
    if not days:
        return None, None
    tz = viewer_tz()
    start = datetime.combine(days[0], time.min, tz).timestamp()
    end_day = days[-1] + timedelta(days=1)
    return start, datetime.combine(end_day, time.min, tz).timestamp()


def _filters(ctx: Ctx, facets: Facets) -> AlertFilter:
    """The filter widgets; returns the filter they describe."""
    c1, c2, c3, c4, c5 = st.columns(5)
    cams = c1.multiselect("Camera", facets.cameras, key="f_cam")
    kinds = c2.multiselect("Kind", facets.kinds, key="f_kind")
    rules = c3.multiselect("Rule", facets.rules, key="f_rule")
    sev = c4.multiselect("Severity", facets.severities, key="f_sev")
    status = c5.multiselect("Status", STATUSES, key="f_status")
    t1, t2 = st.columns([2, 3])
    text = t2.text_input("Search (explanation, rule, camera, alert id)", key="f_text")
    brushed = st.session_state.get(RANGE_KEY)
    if brushed:
        since, until = brushed
        t1.caption(f"Time range from the timeline: {fmt_time(since)} to {fmt_time(until)}")
        if t1.button("Clear time range"):
            st.session_state.pop(RANGE_KEY, None)
            st.rerun()
    else:
        days = t1.date_input("Dates (wall clock)", value=[], key="f_dates")
        since, until = _day_bounds(tuple(days) if isinstance(days, (tuple, list)) else (days,))
    return AlertFilter(
        tuple(cams), tuple(kinds), tuple(rules), tuple(sev), tuple(status), since, until, text,
        allowed_cameras=ctx.allowed,
    )  # fmt: skip


def _pager(total: int) -> tuple[int, int]:
    """Page size and offset widgets; the page resets to 1 when the filter changes."""
    c1, c2, c3 = st.columns([1, 1, 3])
    size = int(c1.selectbox("Rows per page", PAGE_SIZES, index=1, key="page_size"))
    pages = max(1, -(-total // size))
    if st.session_state.get("page_no", 1) > pages:
        st.session_state["page_no"] = 1
    page = int(c2.number_input(f"Page (of {pages})", 1, pages, key="page_no"))
    return size, (page - 1) * size


def _table(q: AlertQuery, rows: list) -> None:  # type: ignore[type-arg]
    data = [
        {
            "time": fmt_time(q.wall_time(a)), "camera": a.camera_id, "kind": a.kind,
            "rule": a.rule, "severity": a.severity, "status": a.review or "new",
            "score": round(a.score, 3), "tracks": ", ".join(map(str, a.track_ids)),
            "video t (s)": round(a.start_time, 1) if a.start_time < 1e9 else None,
            "explanation": a.explanation, "id": a.id,
        }
        for a in rows
    ]  # fmt: skip
    st.dataframe(data, width="stretch", hide_index=True)


def page(ctx: Ctx) -> None:
    """Render the Alerts page."""
    st.header("Alerts")
    with reader(ctx) as r:
        q = AlertQuery(r)
        facets = q.facets(ctx.allowed)
        f = _filters(ctx, facets)
        key = repr(f)
        if st.session_state.get("last_filter") != key:
            st.session_state["last_filter"] = key
            st.session_state["page_no"] = 1
        total = q.count(f)
        overall = q.count(AlertFilter(allowed_cameras=ctx.allowed))
        m1, m2, m3 = st.columns([1, 1, 2])
        m1.metric("Matching alerts", f"{total:,}")
        m2.metric("All alerts", f"{overall:,}")
        size, offset = _pager(total)
        rows = q.page(f, offset, size)
        _table(q, rows)
        m3.download_button(
            "Export filtered rows (CSV)", data=lambda: _csv(ctx, f),
            file_name="alerts.csv", mime="text/csv", on_click="ignore",
        )  # fmt: skip
        chosen = _choose(rows, q)
        if chosen is not None:
            show_evidence(ctx, r, chosen)


def _csv(ctx: Ctx, f: AlertFilter) -> str:
    """The filtered rows as CSV, on its own connection (the download runs after this rerun)."""
    with reader(ctx) as r:
        return AlertQuery(r).csv_text(f)


def _choose(rows: list, q: AlertQuery) -> str | None:  # type: ignore[type-arg]
    """Alert picker over the current page; ``?alert=ID`` in the URL preselects one."""
    wanted = st.query_params.get("alert")
    ids = [a.id for a in rows]
    if wanted and wanted not in ids:
        ids = [wanted, *ids]
    if not ids:
        st.info("No alerts match these filters.")
        return None
    labels = {
        a.id: f"{fmt_time(q.wall_time(a))} · {a.camera_id} · {a.rule} · {a.id[:8]}" for a in rows
    }
    choice = st.selectbox(
        "Evidence of alert", ids, index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda i: labels.get(i, i), key="alert_pick",
    )  # fmt: skip
    return str(choice) if choice else None
