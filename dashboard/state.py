"""What every page gets: the store paths, the logged-in user, permission checks, safe text.

Camera names, rule names and explanations come from configs and footage, not from this code, so
they are shown as escaped text: a name like ``![x](http://host/)`` must never fetch anything.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

from monitor.store import StoreReader
from monitor.store.users import User, UserStore

DB_ENV = "MONITOR_DB"
MODELS_ENV = "MONITOR_MODELS_DIR"
ONETIME_ENV = "MONITOR_DASHBOARD_PASSWORD"  # one-time admin password (``monitor demo``)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&])")


def parse_args() -> argparse.Namespace:
    """The app's own arguments (after ``--`` on the streamlit command line)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", default=os.environ.get(DB_ENV, "out/monitor.db"))
    parser.add_argument("--models", default=os.environ.get(MODELS_ENV, ""))
    parser.add_argument("--stale-after", type=float, default=900.0)
    return parser.parse_known_args()[0]


@dataclass(frozen=True)
class Ctx:
    """One rerun's context: where the store is, who is asking, from where."""

    db: Path
    models_dir: Path | None
    user: User
    client: str
    token: str | None
    stale_after_s: float = 900.0

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """The user's camera access list (None = all cameras)."""
        return self.user.cameras

    def may_see(self, camera_id: str) -> bool:
        """True when the user's access list includes ``camera_id``."""
        return self.allowed is None or camera_id in self.allowed


@contextmanager
def reader(ctx: Ctx) -> Iterator[StoreReader]:
    """A read-only store connection for this rerun, closed afterwards."""
    r = StoreReader(ctx.db)
    try:
        yield r
    finally:
        r.close()


def authorize(ctx: Ctx, action: str, target: str = "") -> None:
    """Raise PermissionError (and audit the refusal) unless the user is an admin."""
    if ctx.user.is_admin:
        return
    users = UserStore(ctx.db)
    try:
        users.audit(ctx.user.name, "denied", target, {"action": action}, ctx.client)
    finally:
        users.close()
    raise PermissionError(f"{action}: admins only (you are {ctx.user.role})")


def md(text: object) -> str:
    """``text`` escaped for any Streamlit element that renders Markdown (labels, captions)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def client_id() -> str:
    """The client address as Streamlit sees it ('unknown' when it cannot tell)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context (tests, bare mode)
        ip = None
    return ip if isinstance(ip, str) and ip else "unknown"


def viewer_tz() -> tzinfo:
    """The browser's time zone when Streamlit knows it, else the server's local zone."""
    try:
        name = st.context.timezone
        if isinstance(name, str) and name:
            return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - unknown zone name or no context
        pass
    return datetime.now().astimezone().tzinfo or timezone.utc


def fmt_time(t: float | None) -> str:
    """Wall-clock time ``YYYY-MM-DD HH:MM:SS`` in the viewer's zone ('-' for None)."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, viewer_tz()).strftime("%Y-%m-%d %H:%M:%S")
