"""Live page: every camera's newest published frame and health, refreshing in place.

The live driver publishes ``<media_root>/live/<camera>.jpg`` (annotated: zones, lines, masks
drawn) and ``<camera>.json`` (timestamp, state, fps, latency, drops, last alert). The grid is an
``st.fragment`` with ``run_every``, so only the grid reruns; a camera without a frame shows a
placeholder. A frame older than ``STALE_S`` while the camera says it is online reads "stalled".
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import streamlit as st

from dashboard.media import jpeg_bytes, load_image, load_json
from dashboard.state import Ctx, fmt_time, md, reader
from monitor.store import StoreReader
from monitor.store.health import HealthRow, latest_health
from monitor.store.queries import AlertFilter, AlertQuery

REFRESH_S = 2.0
STALE_S = 10.0
COLUMNS = 3
_CAMERA = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def cameras(r: StoreReader, ctx: Ctx) -> list[str]:
    """Cameras with a published frame, a health row or a recorded input, within the access list."""
    names: set[str] = set()
    live = r.media_root() / "live"
    try:
        names.update(p.stem for p in live.glob("*.json"))
        names.update(p.stem for p in live.glob("*.jpg"))
    except OSError:
        pass
    for sql in (
        "SELECT DISTINCT camera_id FROM camera_health",
        "SELECT DISTINCT camera_id FROM sources",
    ):
        try:
            names.update(str(row[0]) for row in r.conn.execute(sql))
        except Exception:  # noqa: BLE001 - table absent in this store's schema
            continue
    return sorted(n for n in names if _CAMERA.match(n) and ctx.may_see(n))


def _latest_rows(r: StoreReader) -> dict[str, HealthRow]:
    try:
        return latest_health(r.conn)
    except Exception:  # noqa: BLE001 - a store without the camera_health table
        return {}


def health(
    r: StoreReader, camera: str, row: HealthRow | None = None, now: float | None = None
) -> dict[str, Any]:
    """Health of a camera: its newest health row and published frame, with the frame's age."""
    doc: dict[str, Any] = dict(load_json(r, f"live/{camera}.json") or {})
    now = time.time() if now is None else now
    ts = doc.get("timestamp", doc.get("time"))
    age = now - float(ts) if isinstance(ts, (int, float)) else None
    state = row.state if row is not None else doc.get("state", "offline" if not doc else "unknown")
    state = str(state)
    if state == "online" and age is not None and age > STALE_S:
        state = "stalled"
    q = AlertQuery(r).page(AlertFilter(cameras=(camera,)), 0, 1)
    return {
        "state": state, "age": age,
        "fps": row.fps_out if row is not None else doc.get("fps"),
        "latency": row.latency_p50_ms if row is not None else doc.get("latency_ms"),
        "drops": row.dropped if row is not None else doc.get("drops"),
        "last_alert": fmt_time(AlertQuery(r).wall_time(q[0])) if q else None,
    }  # fmt: skip


def _health_line(h: dict[str, Any]) -> str:
    parts = [h["state"]]
    if h["age"] is not None:
        parts.append(f"frame {h['age']:.0f} s old")
    for key, unit in (("fps", " fps"), ("latency", " ms"), ("drops", " drops")):
        if isinstance(h[key], (int, float)):
            parts.append(f"{h[key]:.4g}{unit}")
    if h["last_alert"]:
        parts.append(f"last alert: {h['last_alert']}")
    return " · ".join(parts)


def _frame(r: StoreReader, camera: str) -> bytes | None:
    img = load_image(r, f"live/{camera}.jpg")
    return jpeg_bytes(img) if img is not None else None


def _tile(r: StoreReader, camera: str, row: HealthRow | None) -> None:
    st.text(camera)
    frame = _frame(r, camera)
    if frame is None:
        st.info("No live frame published.")
    else:
        st.image(frame)
    st.caption(md(_health_line(health(r, camera, row))))
    if st.button("Open", key=f"open_{camera}"):
        st.session_state["live_camera"] = camera
        st.rerun(scope="app")


def _grid(ctx: Ctx) -> None:
    with reader(ctx) as r:
        cams = cameras(r, ctx)
        if not cams:
            st.info("No cameras yet: start `monitor live` or run `monitor batch`.")
            return
        rows = _latest_rows(r)
        st.caption(f"Updated {fmt_time(time.time())}")
        for start in range(0, len(cams), COLUMNS):
            cols = st.columns(COLUMNS)
            for col, cam in zip(cols, cams[start : start + COLUMNS]):
                with col, st.container(border=True):
                    _tile(r, cam, rows.get(cam))


def _one_camera(ctx: Ctx, camera: str) -> None:
    if st.button("Back to all cameras"):
        st.session_state.pop("live_camera", None)
        st.rerun()
    st.subheader(md(camera))
    left, right = st.columns([3, 2])
    with left:
        st.fragment(run_every=REFRESH_S)(lambda: _big_frame(ctx, camera))()
    with right, reader(ctx) as r:
        st.markdown("**Recent alerts**")
        q = AlertQuery(r)
        rows = q.page(AlertFilter(cameras=(camera,), allowed_cameras=ctx.allowed), 0, 15)
        st.dataframe(
            [{"time": fmt_time(q.wall_time(a)), "rule": a.rule, "severity": a.severity,
              "status": a.review or "new", "explanation": a.explanation} for a in rows],
            hide_index=True, width="stretch",
        )  # fmt: skip
        _rules_text(r, camera)


def _big_frame(ctx: Ctx, camera: str) -> None:
    with reader(ctx) as r:
        frame = _frame(r, camera)
        if frame is None:
            st.info("No live frame published for this camera.")
        else:
            st.image(frame, caption="newest frame (zones, lines and privacy masks drawn)")
        st.caption(md(_health_line(health(r, camera, _latest_rows(r).get(camera)))))


def _rules_text(r: StoreReader, camera: str) -> None:
    """Zones, lines and masks of the camera from the newest run's config, as plain text."""
    row = r.conn.execute("SELECT config_json FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    if row is None:
        return
    try:
        cfg = json.loads(row[0] or "{}")
    except ValueError:
        return
    cams = [
        c for c in cfg.get("cameras", []) or [] if isinstance(c, dict) and c.get("id") == camera
    ]
    rules = (cams[0].get("rules") if cams else None) or cfg.get("rules") or {}
    lines = [
        f"{section} '{x.get('name', '')}'"
        for section, items in (rules.items() if isinstance(rules, dict) else [])
        for x in items or []
        if isinstance(x, dict)
    ]
    masks = len(cams[0].get("privacy_masks") or []) if cams else 0
    if lines or masks:
        st.text("Rules: " + ", ".join(lines) + (f"\nPrivacy masks: {masks}" if masks else ""))


def page(ctx: Ctx) -> None:
    """Render the Live page (grid, or one camera after a click)."""
    st.header("Live")
    camera = st.session_state.get("live_camera") or st.query_params.get("camera")
    if camera and ctx.may_see(str(camera)):
        _one_camera(ctx, str(camera))
        return
    st.fragment(run_every=REFRESH_S)(lambda: _grid(ctx))()
