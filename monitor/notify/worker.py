"""The delivery worker: a thread that sends due outbox rows, retries with capped backoff.

It owns its own SQLite connection (WAL lets it write status while the sink writes alerts), so
it never shares a cursor with the pipeline. Run alone with
``python -m monitor.notify.worker --db monitor.db --config CONFIG.yaml`` to drain an outbox.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from monitor.notify import build_notifier
from monitor.notify.base import DeliveryError, Notifier
from monitor.notify.config import NotifierBase, NotifyConfig
from monitor.store.outbox import DeliveryRow, due, mark_delivered, mark_failed_attempt
from monitor.store.schema import connect

log = logging.getLogger(__name__)


class TokenBucket:
    """Rate limit of one notifier: ``per_min`` sends a minute, bursts of up to a tenth of that.

    Example:
        >>> b = TokenBucket(6, clock=lambda: 0.0)
        >>> b.take(), b.take()
        (True, False)
    """

    def __init__(self, per_min: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = per_min / 60.0, clock
        self.capacity = max(1.0, per_min / 10.0)
        self.tokens, self.last = self.capacity, clock()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def retry_delay(cfg: NotifierBase, attempts_before: int) -> float:
    """Capped exponential backoff: ``backoff_s * 2**attempts_before``, at most ``backoff_max_s``.

    Example:
        >>> from monitor.notify.config import WebhookConfig
        >>> c = WebhookConfig(name="h", url="http://x", backoff_s=1, backoff_max_s=5)
        >>> [retry_delay(c, k) for k in range(5)]
        [1.0, 2.0, 4.0, 5.0, 5.0]
    """
    return float(min(cfg.backoff_max_s, cfg.backoff_s * 2.0**attempts_before))


def media_root_of(conn: sqlite3.Connection) -> Path | None:
    """The media root recorded in the store's ``meta`` table."""
    row = conn.execute("SELECT value FROM meta WHERE key='media_root'").fetchone()
    return Path(row[0]) if row else None


class DeliveryWorker(threading.Thread):
    """Sends pending deliveries of the configured notifiers until stopped.

    Example:
        >>> w = DeliveryWorker(NotifyConfig(), "m.db")  # doctest: +SKIP
        >>> w.start(); ...; w.stop()  # doctest: +SKIP
    """

    def __init__(
        self, cfg: NotifyConfig, db_path: str | Path,
        notifiers: Mapping[str, Notifier] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name="notify-worker", daemon=True)
        self.cfg, self.db_path = cfg, Path(db_path)
        self.configs = {n.name: n for n in cfg.notifiers if n.enabled}
        self.notifiers: dict[str, Notifier] = dict(notifiers or {})
        self.buckets = {name: TokenBucket(c.rate_per_min) for name, c in self.configs.items()}
        self._halt = threading.Event()
        self._deadline: float | None = None
        self.sent = self.failed = 0

    def _notifier(self, name: str, conn: sqlite3.Connection) -> Notifier:
        if name not in self.notifiers:
            self.notifiers[name] = build_notifier(self.configs[name], media_root_of(conn))
        return self.notifiers[name]

    def step(self, conn: sqlite3.Connection, now: float | None = None) -> int:
        """Attempt every due delivery once (rate limits permitting); returns attempts made."""
        now = time.time() if now is None else now
        attempted = 0
        for row in due(conn, now, list(self.configs)):
            if not self.buckets[row.notifier].take():
                continue  # over the rate: stays pending and due, tried on a later step
            attempted += 1
            self._attempt(conn, row)
        return attempted

    def _attempt(self, conn: sqlite3.Connection, row: DeliveryRow) -> None:
        cfg = self.configs[row.notifier]
        try:
            self._notifier(row.notifier, conn).send(row.payload)
        except DeliveryError as err:
            final = not err.retry or row.attempts + 1 >= cfg.max_attempts
            retry_at = None if final else time.time() + retry_delay(cfg, row.attempts)
            mark_failed_attempt(conn, row.id, str(err), retry_at)
            self.failed += final
            log.log(logging.ERROR if final else logging.INFO, "delivery %s via %s (attempt %d): %s",
                    row.alert_id, row.notifier, row.attempts + 1, err)  # fmt: skip
            return
        mark_delivered(conn, row.id)
        self.sent += 1

    def run(self) -> None:
        """Poll the outbox until ``stop``; then drain what is due for up to ``drain_s``."""
        conn = connect(self.db_path, False, 10000)
        try:
            while True:
                try:
                    n = self.step(conn)
                except sqlite3.Error as err:  # a locked or busy store: try again next poll
                    log.warning("notify worker: store error %s", err)
                    n = 0
                if self._halt.is_set() and (
                    n == 0 or self._deadline is None or time.monotonic() > self._deadline
                ):
                    break
                if n == 0:
                    self._halt.wait(self.cfg.poll_s)
        finally:
            for notifier in self.notifiers.values():
                notifier.close()
            conn.close()

    def stop(self, drain_s: float | None = None) -> None:
        """Stop after sending what is due (at most ``drain_s``, default the config's)."""
        self._deadline = time.monotonic() + (self.cfg.drain_s if drain_s is None else drain_s)
        self._halt.set()
        if self.is_alive():
            self.join(timeout=(self._deadline - time.monotonic()) + 10.0)


def main(argv: list[str] | None = None) -> None:
    """Run the worker alone over a store (its ``notify:`` section from a YAML config)."""
    import yaml

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--db", required=True, type=Path)
    ap.add_argument("--config", required=True, type=Path)
    ap.add_argument("--seconds", type=float, default=None, help="Stop after this long.")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    data = yaml.safe_load(args.config.read_text()) or {}
    worker = DeliveryWorker(NotifyConfig.model_validate(data.get("notify") or {}), args.db)
    worker.start()
    try:
        worker.join(args.seconds)
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
