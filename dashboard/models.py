"""Models page: registry versions, lineage, metrics side by side; promote / rollback (admins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.state import Ctx, authorize, md
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry, ModelVersion
from monitor.store.users import UserStore


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Numeric metrics flattened one level deep (``per_class.person.map50``)."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = round(float(v), 4)
    return out


def _lineage(reg: list[ModelVersion], mv: ModelVersion) -> str:
    """``v3 <- v2 <- v1`` up the parents; a weight interpolation (``monitor models merge``) also
    names its second source and the weights, which the parent chain alone would hide."""
    by = {m.version: m for m in reg}
    chain, cur, seen = [_label(mv)], mv.parent, {mv.version}
    while cur and cur not in seen:
        chain.append(_label(by[cur]) if cur in by else cur)
        seen.add(cur)
        cur = by[cur].parent if cur in by else None
    return " <- ".join(chain)


def _label(mv: ModelVersion) -> str:
    sources = mv.merged_from()
    return f"{mv.version} ({sources})" if sources else mv.version


def registry(ctx: Ctx) -> ModelRegistry:
    """The registry the dashboard was started with (``--models``), else the default one."""
    return ModelRegistry(ctx.models_dir or Path(DEFAULT_MODELS_DIR))


def promote(ctx: Ctx, version: str) -> None:
    """Promote ``version`` (admins only; audited)."""
    authorize(ctx, "promote", version)
    registry(ctx).promote(version)
    _audit(ctx, "promote", version)


def rollback(ctx: Ctx, kind: str) -> str:
    """Roll ``kind`` back to the previously promoted version (admins only; audited)."""
    authorize(ctx, "rollback", kind)
    mv = registry(ctx).rollback(kind)
    _audit(ctx, "rollback", mv.version)
    return mv.version


def _audit(ctx: Ctx, action: str, target: str) -> None:
    users = UserStore(ctx.db)
    try:
        users.audit(ctx.user.name, action, target, {}, ctx.client)
    finally:
        users.close()


def _actions(ctx: Ctx, versions: list[ModelVersion]) -> None:
    st.subheader("Promote / roll back")
    if not ctx.user.is_admin:
        st.caption("Read-only account: promoting and rolling back need an admin.")
        return
    c1, c2 = st.columns(2)
    version = c1.selectbox("Version", [m.version for m in versions], key="promote_pick")
    if c1.button("Promote", key="promote_btn"):
        try:
            promote(ctx, str(version))
            st.success(f"{version} promoted.")
        except (PermissionError, KeyError, ValueError, FileNotFoundError) as err:
            st.error(str(err))
    kind = c2.selectbox("Kind", sorted({m.kind for m in versions}), key="rollback_kind")
    if c2.button("Roll back", key="rollback_btn"):
        try:
            st.success(f"{kind}: back to {rollback(ctx, str(kind))}.")
        except (PermissionError, ValueError) as err:
            st.error(str(err))


def page(ctx: Ctx) -> None:
    """Render the Models page."""
    st.header("Models")
    reg = registry(ctx)
    try:
        versions = reg.list()
        promoted = {k: reg.promoted(k) for k in ("detector", "anomaly")}
    except (ValueError, KeyError, OSError) as err:
        st.error(f"Model registry unreadable: {err}")
        return
    if not versions:
        st.info("No models registered.")
        return
    live = {mv.version for mv in promoted.values() if mv is not None}
    st.dataframe(
        [{"version": m.version, "kind": m.kind, "promoted": m.version in live,
          "lineage": _lineage(versions, m), "created": m.created,
          "camera": m.train_args.get("camera", "") if m.kind == "anomaly" else "",
          "variants": ", ".join(sorted(m.variants))} for m in versions],
        hide_index=True, width="stretch",
    )  # fmt: skip
    st.subheader("Metrics side by side")
    picked = st.multiselect(
        "Versions", [m.version for m in versions], default=[m.version for m in versions][:3]
    )
    table: dict[str, dict[str, Any]] = {}
    for m in versions:
        if m.version in picked:
            table[m.version] = _flat(m.metrics)
    if table:
        st.dataframe(table, width="stretch")
    for kind, mv in promoted.items():
        st.caption(md(f"promoted {kind}: {mv.version if mv else 'none'}"))
    _actions(ctx, versions)
