"""``monitor live`` end to end on real streams: a PETS frame folder played as a camera (``file:``)
and real HTTP / RTSP cameras served on 127.0.0.1 by ffmpeg and GStreamer (``tests/streams.py``).

Nothing is mocked: the detector is the project's promoted model (wrapped only to count or slow
its calls). Times measured here are printed (``pytest -s``) for the README.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2
import pytest
import yaml

from monitor.config import parse_config
from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
from monitor.pipeline import Pipeline
from monitor.rules import RuleEngine, RulesConfig
from monitor.store.health import read_health
from monitor.tracking import Tracker
from monitor.types import Detections, Frame
from pipelines.service import LiveService
from tests.streams import RTSP_PASSWORD, RTSP_USER, free_port

REPO = Path(__file__).resolve().parents[2]
ZONE = {
    "name": "door",
    "polygon": [[380, 200], [460, 200], [460, 300], [380, 300]],
    "cooldown_s": 5,
}  # fmt: skip  (fires on PETS frames 1-40, see test_live.py)
FAST_HEALTH = {"health_interval_s": 1.0, "learning_s": 1.0, "offline_alert_s": 1.0,
               "publish_fps": 2.0, "open_timeout_s": 5.0, "read_timeout_s": 2.0}  # fmt: skip


def wait_for(
    cond: Callable[[], Any], timeout: float, tick: Callable[[], None] | None = None
) -> float | None:
    """Seconds until ``cond()`` is truthy (calling ``tick`` between tries), None on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if tick is not None:
            tick()
        if cond():
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def pets_camera(pets_subset: Path, cid: str = "pets", detect_fps: float = 3.0) -> dict[str, Any]:
    return {"id": cid, "uri": f"file:{pets_subset}", "loop": True, "detect_fps": detect_fps,
            "rules": {"zones": [ZONE]}}  # fmt: skip


def live_config(cameras: list[dict[str, Any]], tmp: Path, **live: Any) -> dict[str, Any]:
    return {"cameras": cameras, "model": {"classes": ["person"]},
            "store": {"path": str(tmp / "monitor.db")}, "live": {**FAST_HEALTH, **live}}  # fmt: skip


def health_states(db: Path, camera: str) -> list[str]:
    """Health states written so far ([] while the service is still creating its store)."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return [r.state for r in read_health(conn, camera)]
        except sqlite3.OperationalError:  # file created, migrations not applied yet
            return []


def alerts(db: Path, kind: str | None = None) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        sql = "SELECT * FROM alerts" + (" WHERE kind = ?" if kind else "")
        return conn.execute(sql, (kind,) if kind else ()).fetchall()


def decodes(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


class CountingDetector:
    """The real detector, counting forwards and frames (and optionally slowed down)."""

    def __init__(self, inner: UltralyticsDetector, delay: float = 0.0) -> None:
        self.inner, self.delay = inner, delay
        self.batches: list[int] = []

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        self.batches.append(len(frames))
        if self.delay:
            time.sleep(self.delay)
        return self.inner.detect(frames)


@pytest.fixture(scope="module")
def detector(detector_weights: Path) -> UltralyticsDetector:
    return UltralyticsDetector(UltralyticsConfig(weights=str(detector_weights), classes=["person"]))


def service_for(cfg_dict: dict[str, Any], tmp: Path, det: CountingDetector) -> LiveService:
    cfg = parse_config(cfg_dict)
    pipeline = Pipeline(det, Tracker(cfg.tracker), RuleEngine(RulesConfig()))
    return LiveService(cfg, tmp / "media", pipeline=pipeline)


# --------------------------------------------------------------------------- in process


def test_outage_recovery_and_shared_forward(detector, pets_subset, mjpeg_server, tmp_path) -> None:
    """Kill the HTTP camera: offline row + health alert, earlier alerts kept; restart: back online.
    Both cameras go through shared batched forwards (fewer forwards than frames)."""
    det = CountingDetector(detector)
    cams = [pets_camera(pets_subset), {"id": "http", "uri": mjpeg_server.url, "detect_fps": 3}]
    service = service_for(live_config(cams, tmp_path), tmp_path, det)
    db = tmp_path / "monitor.db"
    service.start()
    try:
        assert wait_for(
            lambda: "online" in health_states(db, "http") and alerts(db), 60, service.poll
        )
        before = {a["id"] for a in alerts(db) if a["kind"] != "health"}
        mjpeg_server.kill()
        killed = time.monotonic()

        def offline_seen() -> bool:
            health = [a for a in alerts(db, "health") if a["camera_id"] == "http"]
            down = health_states(db, "http")[-1:] != ["online"]
            return down and any(a["rule"] == "offline" for a in health)

        offline = wait_for(offline_seen, 20, service.poll)
        assert offline is not None, "camera not offline (with health alert) within 20 s"
        mjpeg_server.start()
        restarted = time.monotonic()
        back = wait_for(lambda: health_states(db, "http")[-1:] == ["online"], 20, service.poll)
        assert back is not None, "camera not back online within 20 s"
        print(f"\noffline+alert {offline:.1f} s after kill; online {back:.1f} s after restart "
              f"(health rows every 1 s); outage {restarted - killed:.1f} s")  # fmt: skip
        assert before <= {a["id"] for a in alerts(db)}  # alerts so far are kept
    finally:
        summary = service.shutdown()
    shared = sum(1 for b in det.batches if b >= 2)
    print(f"forwards {len(det.batches)}, frames {sum(det.batches)}, shared forwards {shared}")
    assert shared > 0 and len(det.batches) < sum(det.batches)
    assert sum(summary["processed"].values()) == sum(det.batches)
    resolved = [json.loads(a["data_json"]).get("resolved") for a in alerts(db, "health")]
    assert True in resolved  # the offline episode was closed when the camera came back


def test_slow_detector_keeps_queues_bounded(detector, pets_subset, tmp_path) -> None:
    """A detector slowed to ~2 forwards/s against two 7 fps cameras: drops counted, queues
    never above their size, processing continues on the newest frames."""
    det = CountingDetector(detector, delay=0.4)
    cams = [
        pets_camera(pets_subset, "a", detect_fps=7),
        pets_camera(pets_subset, "b", detect_fps=7),
    ]
    cfg = live_config([{**c, "detect_fps": None} for c in cams], tmp_path, queue_size=2)
    service = service_for(cfg, tmp_path, det)
    service.start()
    sizes: list[int] = []
    try:
        end = time.monotonic() + 15
        while time.monotonic() < end:
            service.poll()
            sizes += [len(f.queue) for f in list(service.runner._feeds.values())]
            time.sleep(0.05)
        dropped = {c: service.runner.dropped(c) for c in ("a", "b")}
    finally:
        summary = service.shutdown()
    print(
        f"\nslow detector: processed {summary['processed']}, dropped {dropped}, max queue {max(sizes)}"
    )
    assert max(sizes) <= 2
    assert all(d > 0 for d in dropped.values())
    assert all(n > 0 for n in summary["processed"].values())


# --------------------------------------------------------------------------- the command


def run_cli(config: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """``monitor live`` as the installed command runs it (``cli.main.run``: its early exit too)."""
    cmd = [sys.executable, "-c", "from cli.main import run; run()", "live", "--config",
           str(config), "--out", str(out), *extra]  # fmt: skip
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def check_store(db: Path, media: Path, cameras: set[str]) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT camera_id, state FROM camera_health").fetchall()
    assert cameras <= {c for c, _ in rows}
    assert {c for c, s in rows if s == "online"} >= cameras
    rule_alerts = [a for a in alerts(db) if a["kind"] != "health"]
    assert rule_alerts, "the PETS zone must fire"
    for a in rule_alerts:
        assert (media / a["snapshot_path"]).is_file()
        assert decodes(media / a["clip_path"]) > 0
    for cam in cameras:
        meta = json.loads((media / "live" / f"{cam}.json").read_text())
        assert meta["camera_id"] == cam and meta["timestamp"] > 0
        assert cv2.imread(str(media / "live" / f"{cam}.jpg")) is not None


def test_monitor_live_duration(pets_subset, mjpeg_server, tmp_path) -> None:
    """file: + MJPEG cameras for a fixed duration: exit 0, alerts with evidence, health rows,
    published frames, Prometheus text on 127.0.0.1."""
    port = free_port()
    cams = [pets_camera(pets_subset), {"id": "http", "uri": mjpeg_server.url, "detect_fps": 2}]
    config = tmp_path / "live.yaml"
    config.write_text(yaml.safe_dump(live_config(cams, tmp_path, metrics_port=port)))
    proc = run_cli(config, tmp_path, "--duration", "35")
    up = 'monitor_camera_up{camera="http"} 1.0'
    assert wait_for(lambda: up in _try(scrape, port), 60), "no metrics with the camera online"
    assert 'monitor_camera_fps_out{camera="pets"}' in scrape(port)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    check_store(tmp_path / "monitor.db", tmp_path, {"pets", "http"})
    assert out.count("\n") < 60, "the terminal must not be a log flood"


def _try(fn: Callable[[int], str], arg: int) -> str:
    try:
        return fn(arg)
    except OSError:
        return ""


def test_sigterm_reload_and_no_credentials(pets_subset, rtsp_server, tmp_path) -> None:
    """RTSP camera with a password; a camera added to the file while running starts; SIGTERM
    leaves an intact store and decodable clips; the password shows nowhere."""
    port = free_port()
    uri = rtsp_server.url_with(RTSP_USER, quote(RTSP_PASSWORD, safe=""))
    cams = [pets_camera(pets_subset), {"id": "door", "uri": uri, "detect_fps": 2}]
    config = tmp_path / "live.yaml"
    cfg = live_config(cams, tmp_path, metrics_port=port, reload_poll_s=1.0)
    config.write_text(yaml.safe_dump(cfg))
    proc = run_cli(config, tmp_path)
    db = tmp_path / "monitor.db"
    assert wait_for(lambda: db.is_file() and "online" in health_states(db, "door"), 90)
    cfg["cameras"].append(pets_camera(pets_subset, "added"))
    config.write_text(yaml.safe_dump(cfg))
    added = wait_for(lambda: (tmp_path / "live" / "added.json").is_file(), 60)
    assert added is not None, "camera added to the config did not start"
    assert wait_for(lambda: "online" in health_states(db, "added"), 30)
    metrics = scrape(port)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    print(f"\nadded camera publishing {added:.1f} s after the config change")
    check_store(db, tmp_path, {"pets", "door", "added"})
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    for secret in (RTSP_PASSWORD, quote(RTSP_PASSWORD, safe=""), "pa/ss"):
        for where, text in (("output", out), ("store", dump), ("metrics", metrics)):
            assert secret not in text, f"password in {where}"
    states = dict(_last_states(db))
    assert set(states.values()) == {"offline"}  # every camera marked offline at shutdown


def _last_states(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT camera_id, state FROM camera_health WHERE id IN "
            "(SELECT MAX(id) FROM camera_health GROUP BY camera_id)"
        ).fetchall()


def test_a_busy_metrics_port_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    """Another process on ``live.metrics_port``: one line naming the field, raised before the
    model is loaded, and nothing left listening."""
    import socket

    from monitor.config import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = parse_config({"live": {"metrics_port": port}, "model": {"weights": "missing.pt"}})
        with pytest.raises(ConfigError, match=rf"live.metrics_port: cannot serve metrics on "
                           rf"127.0.0.1:{port} \(Address already in use\)"):  # fmt: skip
            LiveService(cfg, tmp_path / "media")
    free = free_port()
    cfg = parse_config({"live": {"metrics_port": free}, "model": {"weights": "missing.pt"}})
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        LiveService(cfg, tmp_path / "media")
    with socket.socket() as again:
        again.bind(("127.0.0.1", free))  # the endpoint was closed when the model failed
