"""The pipeline's stages do no file I/O; the sink writes every piece of evidence they return."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import cv2
import pytest

from monitor.config import parse_config
from monitor.pipeline import Pipeline
from monitor.sources import FrameSource, discover_inputs
from pipelines.sink import OutputSink

# Ped2 Test clip 01: a cyclist rides through (anomalous from about frame 60).
CONFIG = {
    "anomaly": {"enabled": True, "cooldown_s": 2.0},
    "rules": {"zones": [{"name": "walkway", "units": "norm", "cooldown_s": 5,
                         "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]},
    "cameras": [{"id": "01", "uri": "file:x", "mask_units": "norm",
                 "privacy_masks": [[[0.75, 0.75], [1, 0.75], [1, 1], [0.75, 1]]]}],
    "outputs": {"clip_seconds": 1.0},
}  # fmt: skip


@pytest.fixture(scope="module")
def frames(ped2_dir: Path):
    spec = discover_inputs([ped2_dir / "testing" / "frames" / "01"])[0]
    return list(FrameSource.open(spec, fps=10).frames())[:120]


def test_stages_write_no_files_and_sink_writes_the_evidence(
    frames, detector_weights, tmp_path: Path, monkeypatch
) -> None:
    cfg = parse_config({**CONFIG, "model": {"weights": str(detector_weights)}})
    pipe = Pipeline.from_config(cfg)
    writes: list[str] = []
    real_open = builtins.open

    def spy_open(file, mode="r", *a, **k):  # type: ignore[no-untyped-def]
        if any(c in mode for c in "wax+"):
            writes.append(f"open {file}")
        return real_open(file, mode, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(builtins, "open", spy_open)
        m.setattr(cv2, "imwrite", lambda *a, **k: writes.append(f"imwrite {a[0]}"))
        m.setattr(cv2, "VideoWriter", lambda *a, **k: writes.append("VideoWriter"))
        m.setattr(os, "replace", lambda *a, **k: writes.append(f"replace {a}"))
        results = [r for i in range(0, len(frames), 4) for r in pipe.step_batch(frames[i : i + 4])]
    assert writes == []
    anomalies = [a for r in results for a in r.alerts if a.kind == "anomaly"]
    zones = [a for r in results for a in r.alerts if a.kind == "zone"]
    assert anomalies and zones, "the cyclist must raise an anomaly and people enter the zone"
    assert all(r.anomaly is not None for r in results)
    assert all((r.anomaly.heatmap is not None) == r.anomaly.flagged for r in results)  # type: ignore[union-attr]

    sink = OutputSink(cfg, tmp_path, pipe)
    sink.begin_run("r", "batch")
    sink.open("01", 10.0, (360, 240), files=True)
    for r in results:
        sink.write(r)
    cam = sink.close("01")
    sink.close_all()
    assert cam is not None and cam.frames == len(results)
    for alert in cam.alerts.values():
        assert (tmp_path / str(alert.snapshot_path)).is_file()
        assert (tmp_path / str(alert.clip_path)).is_file()
        assert (alert.kind == "anomaly") == (alert.heatmap_path is not None)
        if alert.heatmap_path:
            assert (tmp_path / alert.heatmap_path).is_file()
    # the privacy mask (bottom-right corner) is black in stored media
    snap = cv2.imread(str(tmp_path / str(next(iter(cam.alerts.values())).snapshot_path)))
    inner = (slice(180 + 6, 240), slice(270 + 6, 360))  # JPEG rings at the mask's edge
    assert snap[inner].max() <= 40 and snap[inner].mean() < 1 and snap.mean() > 40
    video = cv2.VideoCapture(str(tmp_path / "01" / "annotated.mp4"))
    ok, first = video.read()
    video.release()
    assert ok and first[inner].max() <= 40 and first[inner].mean() < 1


def test_a_rule_naming_a_class_the_detector_lacks_is_a_config_error(detector_weights) -> None:
    """``classes: [persn]`` would leave the rule blind for good; the pipeline refuses to start and
    names the field, globally and per camera."""
    from monitor.schema import ConfigError

    zone = {"name": "door", "polygon": [[0, 0], [99, 0], [99, 99], [0, 99]]}
    model = {"weights": str(detector_weights)}
    bad = {"model": model, "rules": {"zones": [{**zone, "classes": ["persn"]}]}}
    with pytest.raises(ConfigError, match=r"rules.zones\[0\].classes: \['persn'\] .*'person'\?"):
        Pipeline.from_config(parse_config(bad))
    per_camera = {
        "model": model,
        "cameras": [{"id": "gate", "uri": "rtsp://127.0.0.1/x",
                     "rules": {"lines": [{"name": "l", "start": [0, 50], "end": [99, 50],
                                          "classes": ["car", "lorry"]}]}}],
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"cameras.gate.rules.lines\[0\].classes: \['lorry'\]"):
        Pipeline.from_config(parse_config(per_camera))
    fine = {"model": model, "rules": {"zones": [{**zone, "classes": ["person", "car"]}]}}
    assert Pipeline.from_config(parse_config(fine)).rules.rules
