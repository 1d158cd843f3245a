"""One alert's evidence (snapshot with track paths, clip, explanation, score) and its review.

Review actions and "missed object" marks go through :func:`dashboard.state.authorize` before
touching the store: the buttons are hidden from viewers, and the check is repeated server-side.
"""

from __future__ import annotations

import streamlit as st

from dashboard.media import draw_paths, jpeg_bytes, load_image, load_video, track_paths
from dashboard.state import Ctx, authorize, fmt_time, md
from monitor.store import AlertRow, StoreReader
from monitor.store.queries import AlertQuery
from monitor.store.review import ReviewStore

ACTION_LABELS = {"acknowledge": "Acknowledge", "resolve": "Resolve", "reject": "Reject as false"}


def show_evidence(ctx: Ctx, r: StoreReader, alert_id: str) -> None:
    """Render the evidence panel of ``alert_id`` (placeholder when unknown or not allowed)."""
    a = AlertQuery(r).get(alert_id, ctx.allowed)
    if a is None:
        st.warning("This alert does not exist or is not visible to you.")
        return
    st.subheader(md(f"{a.camera_id} · {a.kind} · {a.rule}"))
    left, right = st.columns(2)
    with left:
        _snapshot(r, a)
    with right:
        clip = load_video(r, a.clip_path)
        if clip is None:
            st.info("Clip unavailable.")
        else:
            st.video(clip[0], format=clip[1])
        if a.heatmap_path:
            heat = load_image(r, a.heatmap_path)
            if heat is not None:
                st.image(jpeg_bytes(heat), caption="anomaly heatmap")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Score", f"{a.score:.3f}")
    c2.metric("Severity", a.severity)
    c3.metric("Status", a.review or "new")
    c4.metric("Tracks", ", ".join(map(str, a.track_ids)) or "-")
    st.caption(
        md(f"{fmt_time(AlertQuery(r).wall_time(a))} · frame {a.frame_index} · "
           f"video {a.start_time:.1f}-{a.end_time:.1f} s · id {a.id}")
    )  # fmt: skip
    st.text(a.explanation or "(no explanation)")
    with st.expander("Evidence data"):
        st.json(a.data, expanded=True)
    _review_panel(ctx, a)


def _snapshot(r: StoreReader, a: AlertRow) -> None:
    img = load_image(r, a.snapshot_path)
    if img is None:
        st.info("Snapshot unavailable.")
        return
    paths = track_paths(r, a.snapshot_path, a.track_ids, a.start_time, a.end_time)
    if any(paths.values()):
        img = draw_paths(img, paths)
    st.image(jpeg_bytes(img), caption="snapshot with track paths")


def _review_panel(ctx: Ctx, a: AlertRow) -> None:
    reviews = ReviewStore(ctx.db)
    try:
        history = reviews.history(a.id)
        if history:
            st.dataframe(
                [{"time": fmt_time(h.at), "user": h.username, "action": h.action,
                  "comment": h.comment} for h in history],
                hide_index=True, width="stretch",
            )  # fmt: skip
        if not ctx.user.is_admin:
            st.caption("Read-only account: reviews need an admin.")
            return
        _review_form(ctx, reviews, a)
        _missed_form(ctx, reviews, a)
    finally:
        reviews.close()


def _review_form(ctx: Ctx, reviews: ReviewStore, a: AlertRow) -> None:
    with st.form(f"review_{a.id}", clear_on_submit=True):
        action = st.radio(
            "Review",
            list(ACTION_LABELS),
            format_func=ACTION_LABELS.__getitem__,
            horizontal=True,
            key="review_action",
        )
        comment = st.text_input("Comment")
        if st.form_submit_button("Save review"):
            try:
                authorize(ctx, f"alert_{action}", a.id)
                status = reviews.review(a.id, str(action), ctx.user.name, comment, ctx.client)
            except (PermissionError, KeyError) as err:
                st.error(str(err))
            else:
                st.success(f"Alert marked {status}.")
                st.rerun()


def _missed_form(ctx: Ctx, reviews: ReviewStore, a: AlertRow) -> None:
    with st.expander("Mark a missed object"), st.form(f"missed_{a.id}", clear_on_submit=True):
        label = st.text_input("Object class", value="person")
        box = st.text_input("Box x1,y1,x2,y2 in pixels (optional)")
        comment = st.text_input("Comment", key=f"missed_comment_{a.id}")
        if st.form_submit_button("Record missed object"):
            try:
                authorize(ctx, "missed_object", a.id)
                coords = [float(v) for v in box.split(",")] if box.strip() else None
                reviews.mark_missed(
                    a.camera_id, ctx.user.name, label=label.strip() or "object", comment=comment,
                    alert_id=a.id, box=coords, client=ctx.client,
                )  # fmt: skip
            except (PermissionError, ValueError) as err:
                st.error(str(err))
            else:
                st.success("Missed object recorded for training.")
