"""Alert delivery to a real HTTP webhook receiver on 127.0.0.1; MQTT and email: test_notify_channels.

Receivers are started by the tests; the webhook and restart tests use real alerts from the real
pipeline on PETS09 frames, and a worker subprocess killed with SIGKILL for the restart case.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.notify import DeliveryError, NotifyConfig, alert_payload
from monitor.notify.config import CameraNotify, WebhookConfig
from monitor.notify.outbox import Outbox
from monitor.notify.worker import DeliveryWorker, TokenBucket
from monitor.store import Store
from monitor.store.outbox import delivery_status, enqueue
from monitor.store.schema import connect
from monitor.types import Alert

SECRET = "s3cret-key"
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


class Receiver:
    """A real HTTP server in a thread that records every POST (headers, parsed body, raw)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.got: list[tuple[dict[str, str], dict[str, Any], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers), json.loads(raw), raw))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def ids(self) -> list[str]:
        return [body["alert"]["id"] for _, body, _ in self.got]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def make_alert(i: int = 0, tracks: tuple[int, ...] = (1,), camera: str = "cam", **kw: Any) -> Alert:
    return Alert(camera, "zone", kw.pop("rule", "door"), kw.pop("severity", "warning"), float(i),
                 float(i) + 1, i, tracks, explanation=f"person in door ({i})", id=f"a{i}", **kw)  # fmt: skip


def webhook(url: str, **kw: Any) -> WebhookConfig:
    return WebhookConfig(name="hook", url=url, secret=SECRET, backoff_s=0.2, backoff_max_s=1.0,
                         timeout_s=2.0, **kw)  # fmt: skip


def live_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "m.db")
    store.set_media_root(tmp_path)
    store.begin_run("r1", "live", {})
    return store


def test_webhook_body_signature_and_latency(tmp_path: Path, receiver: Receiver) -> None:
    store = live_store(tmp_path)
    outbox = Outbox(NotifyConfig(notifiers=[webhook(receiver.url)], poll_s=0.05), store)
    alert = make_alert(1, snapshot_path="cam/alerts/a1.jpg")
    store.write_alerts([alert], "r1")
    assert outbox.enqueue([alert], "r1") == 1
    assert wait_for(lambda: len(receiver.got) == 1)
    outbox.close()
    headers, body, raw = receiver.got[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Monitor-Signature"] == expected
    assert body["event"] == "new" and body["alert"]["id"] == "a1" and body["version"] == 1
    assert body["explanation"] == "person in door (1)"
    assert body["snapshot_path"] == "cam/alerts/a1.jpg"
    [row] = delivery_status(store.path, "a1")
    assert row.status == "delivered" and row.attempts == 1
    print(
        f"webhook delivery latency (enqueue -> delivered): {row.delivered_at - row.created_at:.3f} s"
    )
    store.close()


def test_updated_when_episode_grows_never_a_second_new(tmp_path: Path, receiver: Receiver) -> None:
    store = live_store(tmp_path)
    outbox = Outbox(NotifyConfig(notifiers=[webhook(receiver.url)], poll_s=0.05), store)
    for tracks in [(1,), (1,), (1, 2), (1, 2), (1, 2, 5)]:  # later frames of one episode
        outbox.enqueue([make_alert(7, tracks)], "r1")
    assert wait_for(lambda: len(receiver.got) == 3)
    outbox.close()
    assert [(b["event"], b["version"]) for _, b, _ in receiver.got] == [
        ("new", 1), ("updated", 2), ("updated", 3)
    ]  # fmt: skip
    outbox2 = Outbox(NotifyConfig(notifiers=[webhook(receiver.url)]), store)  # a restart
    assert outbox2.enqueue([make_alert(7, (1, 2, 5))], "r1") == 0
    outbox2.close()
    store.close()


def test_batch_delivery_is_off_by_default_and_routing(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.begin_run("b1", "batch", {})
    store.begin_run("l1", "live", {})
    hooks = [webhook("http://127.0.0.1:9/a"), WebhookConfig(name="crit", url="http://127.0.0.1:9/b",
             min_severity="critical", cameras=["gate"])]  # fmt: skip
    cfg = NotifyConfig(notifiers=hooks)
    outbox = Outbox(cfg, store, {"quiet": {"enabled": False}, "gate": {"rules": ["fence"]}})
    assert outbox.enqueue([make_alert(1)], "b1") == 0
    assert outbox.enqueue([make_alert(2, camera="quiet")], "l1") == 0
    assert outbox.enqueue([make_alert(3, camera="gate")], "l1") == 0  # rule not routed
    assert (
        outbox.enqueue([make_alert(4, camera="gate", rule="fence", severity="critical")], "l1") == 2
    )
    assert outbox.enqueue([make_alert(5, camera="gate", rule="fence")], "l1") == 1
    assert cfg.routes(CameraNotify(notifiers=["crit"]), "gate", "x", "critical") == ["crit"]
    outbox.worker and outbox.worker.stop(0)
    store.close()


class Flaky:
    """A notifier that fails ``fail`` times, then succeeds."""

    name = "hook"

    def __init__(self, fail: int, retry: bool = True) -> None:
        self.fail, self.retry, self.calls = fail, retry, 0

    def send(self, payload: dict[str, Any]) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise DeliveryError("down", retry=self.retry)

    def close(self) -> None:
        pass


def test_retry_backoff_is_capped_and_gives_up(tmp_path: Path) -> None:
    store = live_store(tmp_path)
    conn = connect(store.path, False, 5000)
    cfg = NotifyConfig(notifiers=[WebhookConfig(name="hook", url="http://x", backoff_s=1,
                                                backoff_max_s=4, max_attempts=5)])  # fmt: skip
    enqueue(store.conn, "a1", "cam", 1, ["hook"], alert_payload(make_alert(1)), now=0.0)
    worker = DeliveryWorker(cfg, store.path, {"hook": Flaky(fail=99)})
    delays = []
    for _ in range(5):
        row = delivery_status(store.path, "a1")[0]
        t0 = time.time()
        assert worker.step(conn, now=row.next_attempt_at) == 1
        row = delivery_status(store.path, "a1")[0]
        delays.append(round(row.next_attempt_at - t0))
    assert row.status == "failed" and row.attempts == 5 and row.last_error == "down"
    assert delays[:4] == [1, 2, 4, 4]  # 1 s doubling, capped at 4 s; then it gave up
    enqueue(store.conn, "a2", "cam", 1, ["hook"], alert_payload(make_alert(2)), now=0.0)
    worker = DeliveryWorker(cfg, store.path, {"hook": Flaky(fail=1, retry=False)})
    worker.step(conn, now=1.0)
    assert delivery_status(store.path, "a2")[0].status == "failed"  # HTTP 4xx: no retry
    conn.close()
    store.close()


def test_rate_limit_defers_but_does_not_drop(tmp_path: Path) -> None:
    store = live_store(tmp_path)
    conn = connect(store.path, False, 5000)
    for i in range(10):
        enqueue(store.conn, f"a{i}", "cam", 1, ["hook"], alert_payload(make_alert(i)), now=0.0)
    cfg = NotifyConfig(notifiers=[WebhookConfig(name="hook", url="http://x", rate_per_min=60)])
    clock = [0.0]
    fake = Flaky(fail=0)
    worker = DeliveryWorker(cfg, store.path, {"hook": fake})
    worker.buckets["hook"] = TokenBucket(60, clock=lambda: clock[0])
    assert worker.step(conn, now=1.0) == 6  # burst of 6 (a tenth of a minute's 60)
    assert worker.step(conn, now=1.0) == 0
    clock[0] = 4.0  # 4 s at 1/s: 4 more
    assert worker.step(conn, now=5.0) == 4
    assert fake.calls == 10 and {r.status for r in delivery_status(store.path)} == {"delivered"}
    conn.close()
    store.close()


def test_pending_deliveries_survive_sigkill_of_the_worker(tmp_path: Path) -> None:
    store = live_store(tmp_path)
    port = free_port()
    cfg = {"notify": {"poll_s": 0.05, "notifiers": [
        {"name": "hook", "type": "webhook", "url": f"http://127.0.0.1:{port}/hook",
         "secret": SECRET, "backoff_s": 0.2, "backoff_max_s": 0.5}]}}  # fmt: skip
    (tmp_path / "cfg.yaml").write_text(json.dumps(cfg))
    outbox = Outbox(NotifyConfig.model_validate(cfg["notify"]), store)
    outbox.start = lambda: None  # type: ignore[method-assign]  # the subprocess sends, not us
    alerts = [make_alert(i) for i in range(5)]
    store.write_alerts(alerts, "r1")
    assert outbox.enqueue(alerts, "r1") == 5
    cmd = [sys.executable, "-m", "monitor.notify.worker", "--db", str(store.path),
           "--config", str(tmp_path / "cfg.yaml")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: all(r.attempts >= 2 for r in delivery_status(store.path)), 30)
    proc.send_signal(signal.SIGKILL)  # the receiver is down: all 5 are pending, mid-retry
    proc.wait(10)
    assert {r.status for r in delivery_status(store.path)} == {"pending"}
    receiver = Receiver(port).start()
    try:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: len(receiver.got) == 5, 30)
        time.sleep(0.5)  # nothing more may come
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    finally:
        receiver.stop()
    assert sorted(receiver.ids()) == sorted(a.id for a in alerts)  # each exactly once
    assert {r.status for r in delivery_status(store.path)} == {"delivered"}
    store.close()


def test_real_alerts_while_receiver_is_down_arrive_exactly_once(
    tmp_path: Path, detector_weights: Path, pets_subset: Path
) -> None:
    """The real pipeline raises zone alerts on PETS09 while the webhook is down; after the
    receiver comes back every alert arrives, each one ``new`` exactly once (ids compared)."""
    from monitor.config import MonitorConfig, TrackerConfig
    from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
    from monitor.pipeline import Pipeline
    from monitor.rules import RuleEngine, RulesConfig, ZoneRule
    from monitor.sources import FrameSource, discover_inputs
    from monitor.store import StoreReader
    from monitor.tracking import Tracker
    from pipelines.sink import OutputSink

    zone = ZoneRule(name="door", polygon=[(380, 200), (460, 200), (460, 300), (380, 300)],
                    cooldown_s=0)  # fmt: skip
    port = free_port()
    hook = webhook(f"http://127.0.0.1:{port}/hook", max_attempts=10_000)
    notify = NotifyConfig(notifiers=[hook], poll_s=0.05)
    cfg = MonitorConfig(rules=RulesConfig(zones=[zone]), notify=notify)
    pipe = Pipeline(UltralyticsDetector(UltralyticsConfig(weights=str(detector_weights))),
                    Tracker(TrackerConfig()), RuleEngine(cfg.rules))  # fmt: skip
    sink = OutputSink(cfg, tmp_path / "live", pipe)
    sink.begin_run("live-run", "live")
    source = FrameSource.open(discover_inputs([pets_subset])[0])
    sink.open("pets60", source.fps, source.size, files=False)
    frames = list(source.frames())[:40]
    for i in range(0, len(frames), 4):
        for res in pipe.step_batch(frames[i : i + 4]):
            sink.write(res)
    db = sink.store.path
    assert wait_for(lambda: all(r.attempts >= 1 for r in delivery_status(db)), 20)
    rows = delivery_status(db)
    assert rows and {r.status for r in rows} == {"pending"}  # receiver down: nothing lost
    receiver = Receiver(port).start()
    try:
        assert wait_for(lambda: {r.status for r in delivery_status(db)} == {"delivered"}, 30)
        sink.close_all()
    finally:
        receiver.stop()
    alert_ids = {a.id for a in StoreReader(db).alerts()}
    news = [b["alert"]["id"] for _, b, _ in receiver.got if b["event"] == "new"]
    assert alert_ids and sorted(news) == sorted(alert_ids)  # every alert, each new exactly once
    versions = [b["delivery_id"] for _, b, _ in receiver.got]
    assert len(versions) == len(set(versions))  # no delivery twice
    print(f"{len(alert_ids)} alerts, {len(receiver.got)} deliveries after the receiver came back; "
          f"attempts {sorted(r.attempts for r in delivery_status(db))}")  # fmt: skip
