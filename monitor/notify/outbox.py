"""The sink's side of delivery: route each new or grown alert episode into the store outbox.

``enqueue`` is one SQLite insert per (alert version, notifier) on the sink's thread, never a
network call; the ``DeliveryWorker`` thread it starts does the sending.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.notify.base import alert_payload, episode_version
from monitor.notify.config import NotifyConfig
from monitor.notify.worker import DeliveryWorker
from monitor.store import Store
from monitor.store.outbox import enqueue, pending_count
from monitor.types import Alert

log = logging.getLogger(__name__)


class Outbox:
    """Routes alerts per camera, rule and severity; delivery on for live, off for batch by default.

    Example:
        >>> outbox = Outbox(cfg.notify, store, {c.id: c.notify for c in cfg.cameras})  # doctest: +SKIP
        >>> outbox.enqueue(alerts, run_id)  # doctest: +SKIP
        >>> outbox.close()  # doctest: +SKIP
    """

    def __init__(
        self, cfg: NotifyConfig, store: Store,
        camera_overrides: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.store = cfg, store
        self.routes = {cid: cfg.for_camera(o) for cid, o in (camera_overrides or {}).items()}
        self.default_route = cfg.for_camera(None)
        self.names = [n.name for n in cfg.notifiers if n.enabled]
        self.worker: DeliveryWorker | None = None
        self._versions: dict[str, int] = {}
        self._run_kinds: dict[str | None, str] = {}
        if self.names and pending_count(store.conn, self.names):
            self.start()  # deliveries owed from an earlier process go out now

    def start(self) -> None:
        """Start the delivery worker thread (idempotent)."""
        if self.worker is None and self.names:
            self.worker = DeliveryWorker(self.cfg, self.store.path)
            self.worker.start()

    def _enabled(self, run_id: str | None) -> bool:
        if run_id not in self._run_kinds:
            row = self.store.conn.execute("SELECT kind FROM runs WHERE id=?", (run_id,)).fetchone()
            self._run_kinds[run_id] = str(row[0]) if row else "live"
        return self.cfg.batch if self._run_kinds[run_id] == "batch" else self.cfg.live

    def enqueue(self, alerts: Sequence[Alert], run_id: str | None = None) -> int:
        """Queue deliveries for alerts that are new or whose episode grew; returns rows added."""
        if not self.names or not self._enabled(run_id):
            return 0
        added = 0
        for alert in alerts:
            version = episode_version(alert)
            if self._versions.get(alert.id, 0) >= version:
                continue
            self._versions[alert.id] = version
            route = self.routes.get(alert.camera_id, self.default_route)
            names = self.cfg.routes(route, alert.camera_id, alert.rule, alert.severity)
            if not names:
                continue
            payload = alert_payload(alert, self.cfg.media_base_url)
            try:
                added += enqueue(
                    self.store.conn, alert.id, alert.camera_id, version, names, payload
                )
            except sqlite3.Error as err:  # the alert row is stored; only its delivery is lost
                log.error("could not queue delivery of alert %s: %s", alert.id, err)
        if added:
            self.start()
        return added

    def close(self) -> None:
        """Stop the worker after draining what is due (``notify.drain_s``); the rest stays queued."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
