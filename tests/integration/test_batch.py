"""`monitor batch` end to end on real footage: outputs, alerts in SQLite, resume, bad inputs."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from cli.main import app

# A zone the PETS09 people walk into during frames 1-60 (see tests/test_rules.py).
CONFIG = """
model: {classes: [person], batch: 4}
rules:
  zones:
    - {name: door, polygon: [[380, 200], [460, 200], [460, 300], [380, 300]], min_frames: 3,
       cooldown_s: 60, classes: [person]}
outputs: {clip_seconds: 1.0}
"""


def _encode(images: list[Path], target: Path) -> None:
    """Real footage as an mp4: PETS09 frames re-encoded at 7 fps."""
    first = cv2.imread(str(images[0]))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), 7, first.shape[1::-1])
    for p in images:
        writer.write(cv2.imread(str(p)))
    writer.release()


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory, pets_subset: Path, detector_weights: Path):
    """One batch over the 60-frame PETS subset plus an empty and a corrupt video."""
    tmp = tmp_path_factory.mktemp("batch")
    cfg = tmp / "cfg.yaml"
    cfg.write_text(CONFIG)
    videos = tmp / "videos"  # a folder with a corrupt file in the middle
    videos.mkdir()
    _encode(sorted((pets_subset / "img1").iterdir())[:15], videos / "a_walk.mp4")
    (videos / "b_corrupt.mp4").write_bytes(b"\x00\x01junk" * 1000)
    (videos / "c_walk.mp4").symlink_to(videos / "a_walk.mp4")
    (tmp / "empty.mp4").write_bytes(b"")
    out = tmp / "out"
    args = ["batch", str(videos), str(pets_subset), str(tmp / "empty.mp4"),
            "--out", str(out), "--config", str(cfg), "--weights", str(detector_weights)]  # fmt: skip
    calls: list = []
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def spy(self, address):  # records any outbound connection attempt
        calls.append(address)
        return real_connect(self, address)

    def spy_lookup(host, *args, **kwargs):  # and any name lookup (the step before connecting)
        calls.append(host)
        return real_lookup(host, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", spy)
    mp.setattr(socket, "getaddrinfo", spy_lookup)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        mp.undo()
    return {"result": result, "out": out, "args": args, "connects": calls}


def test_no_network_socket_opened_during_run(batch_run) -> None:
    assert batch_run["connects"] == []


def test_bad_inputs_reported_and_batch_continues(batch_run) -> None:
    result = batch_run["result"]
    assert result.exit_code == 1, result.output
    assert "b_corrupt.mp4" in result.output and "empty.mp4" in result.output
    assert "3 processed" in result.output and "2 failed" in result.output
    for name in ("pets60", "videos_a_walk", "videos_c_walk"):
        assert (batch_run["out"] / name / "summary.json").is_file()
    assert not (batch_run["out"] / "videos_b_corrupt" / "summary.json").exists()
    summary = json.loads((batch_run["out"] / "videos_c_walk" / "summary.json").read_text())
    assert summary["frames"] == 15 and summary["source_fps"] == pytest.approx(7)


def test_outputs_per_input(batch_run, gt_tracks) -> None:
    folder = batch_run["out"] / "pets60"
    cap = cv2.VideoCapture(str(folder / "annotated.mp4"))
    decoded = 0
    while cap.read()[0]:
        decoded += 1
    assert decoded == 60
    lines = (folder / "detections.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert [r["index"] for r in records] == list(range(60))
    assert records[7]["time"] == pytest.approx(1.0)
    boxes = [b for r in records for b in r["boxes"]]
    assert boxes and {b["class"] for b in boxes} == {"person"}
    assert sum(b["track_id"] >= 0 for b in boxes) / len(boxes) > 0.8
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["frames"] == 60 and summary["fps_achieved"] > 0
    assert summary["detections_per_class"]["person"] == len(boxes)


def test_zone_alert_in_sqlite_with_snapshot_and_clip(batch_run) -> None:
    out = batch_run["out"]
    db = sqlite3.connect(out / "monitor.db")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM alerts WHERE camera_id = 'pets60'").fetchall()
    assert len(rows) == 1, "one event (cooldown 60 s) is one alert"
    row = rows[0]
    assert row["kind"] == "zone" and row["rule"] == "door" and row["camera_id"] == "pets60"
    assert json.loads(row["track_ids"]) and "entered zone 'door'" in row["explanation"]
    snap = cv2.imread(str(out / row["snapshot_path"]))
    assert snap is not None and snap.shape == (576, 768, 3)
    assert (out / row["clip_path"]).stat().st_size > 0
    summary = json.loads((out / "pets60" / "summary.json").read_text())
    assert [a["id"] for a in summary["alerts"]] == [row["id"]]
    states = {r["camera_id"]: r["status"] for r in db.execute("SELECT * FROM sources")}
    assert states == {
        "videos_a_walk": "done", "videos_b_corrupt": "failed", "videos_c_walk": "done",
        "pets60": "done", "empty": "failed",
    }  # fmt: skip


def test_rerun_skips_finished_and_keeps_alerts(batch_run) -> None:
    out = batch_run["out"]
    before = sqlite3.connect(out / "monitor.db").execute("SELECT id FROM alerts").fetchall()
    args = batch_run["args"]
    result = CliRunner().invoke(app, [args[0], args[2], *args[4:]])  # the good sequence again
    assert result.exit_code == 0, result.output
    assert "0 processed, 1 skipped" in result.output
    after = sqlite3.connect(out / "monitor.db").execute("SELECT id FROM alerts").fetchall()
    assert after == before
    runs = sqlite3.connect(out / "monitor.db").execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert runs == 2


def test_forced_rerun_updates_alerts_without_duplicates(batch_run) -> None:
    out = batch_run["out"]
    db = out / "monitor.db"
    before = sqlite3.connect(db).execute("SELECT id, start_time FROM alerts").fetchall()
    args = batch_run["args"]
    result = CliRunner().invoke(app, [args[0], args[2], *args[4:], "--force"])
    assert result.exit_code == 0, result.output
    assert "1 processed" in result.output
    after = sqlite3.connect(db).execute("SELECT id, start_time FROM alerts").fetchall()
    assert sorted(after) == sorted(before)


# `monitor` itself (cli.main.run) with three probes: an exit handler, which must run, a line a
# native library leaves in C's stdout buffer, which must come out, and an object whose finalizer
# runs only in the interpreter's teardown, which a clean finish skips (~0.5 s).
PROBED_RUN = """
import atexit, ctypes, sys
import cli.main
atexit.register(lambda: print("exit handlers ran", flush=True))
ctypes.CDLL(None).printf(b"native line\\n")
class Probe:
    def __del__(self):
        print("teardown ran", flush=True)
cli.main._probe = Probe()
cli.main.run()
"""


def test_monitor_exits_without_teardown_once_its_outputs_are_closed(
    tmp_path: Path, pets_subset: Path, detector_weights: Path
) -> None:
    import os
    import subprocess
    import sys

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    args = [sys.executable, "-c", PROBED_RUN, "batch", str(pets_subset), "--out", str(out),
            "--config", str(cfg), "--weights", str(detector_weights)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # C stdout buffers
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exit handlers ran" in done.stdout and "native line" in done.stdout
    assert "teardown ran" not in done.stdout
    # everything the run wrote is complete on disk
    assert sum(1 for _ in (out / "pets60" / "detections.jsonl").open()) == 60
    video = cv2.VideoCapture(str(out / "pets60" / "annotated.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    video.release()
    db = sqlite3.connect(out / "monitor.db")
    assert db.execute("SELECT rule FROM alerts").fetchall() == [("door",)]
    assert db.execute("SELECT status FROM runs").fetchall() == [("done",)]
    # a failed run keeps the ordinary exit, with its code
    done = subprocess.run([*args[:4], str(tmp_path / "missing"), *args[5:]],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 1 and "teardown ran" in done.stdout
