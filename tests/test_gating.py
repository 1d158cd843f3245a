"""Motion gating, region detection and detect-every-k on real footage (monitor.gating).

The Intel indoor clip starts with ~6 s of an empty corridor (frames 2-59) before someone walks
in (frames 60-125): the empty stretch must skip the detector and the walk must be detected.
PETS09 frames 491-570 must keep their track ids and the south_lawn zone alert of configs/pets09.yaml
with detection on every third frame only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.config import load_config, parse_config
from monitor.gating import Gate, PerformanceConfig, _grow_to
from monitor.motion import MotionDetector
from monitor.pipeline import FrameResult, Pipeline
from monitor.types import Detections, Frame

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def intel_frames(data_dir: Path) -> list[Frame]:
    """Frames 0-129 of the Intel indoor clip (10 fps): empty corridor, then a walker."""
    import cv2

    cap = cv2.VideoCapture(
        str(data_dir / "intel_sample_videos" / "one-by-one-person-detection.mp4")
    )
    frames: list[Frame] = []
    while len(frames) < 130:
        ok, img = cap.read()
        assert ok
        frames.append(Frame("intel", len(frames), len(frames) / 10, np.asarray(img)))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def pets_frames(pets_dir: Path) -> list[Frame]:
    """PETS09 frames 491-570 (7 fps): people walk into the south_lawn zone from frame 531."""
    import cv2

    files = sorted((pets_dir / "img1").glob("*.jpg"))[490:570]
    return [
        Frame("pets", 490 + i, (490 + i) / 7, np.asarray(cv2.imread(str(f))))
        for i, f in enumerate(files)
    ]


class Recorder:
    """Wraps a detector and records which frame indices it was asked to detect."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.seen: list[int] = []
        self.shapes: list[tuple[int, int]] = []
        self.class_names = detector.class_names
        self.input_hw = getattr(detector, "input_hw", None)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        self.seen += [f.index for f in frames]
        self.shapes += [f.shape for f in frames]
        return self.detector.detect(frames)


def _pipeline(performance: dict[str, Any], rules: bool = False) -> tuple[Pipeline, Recorder]:
    base = load_config(REPO / "configs" / "pets09.yaml").model_dump() if rules else {}
    base.update(performance={**performance}, model={"backend": "onnx", "device": "cpu",
                **({"classes": ["person"]} if rules else {})})  # fmt: skip
    pipe = Pipeline.from_config(parse_config(base))
    rec = Recorder(pipe.detector)
    pipe.detector = rec
    if pipe.gate is not None:
        pipe.gate.detector = rec
    return pipe, rec


def _ids(res: FrameResult) -> list[int]:
    ids = res.detections.tracker_id
    return [] if ids is None else [int(t) for t in ids]


def _run(pipe: Pipeline, frames: list[Frame]) -> list[FrameResult]:
    pipe.reset(frames[0].camera_id)
    return [r for i in range(0, len(frames), 4) for r in pipe.step_batch(frames[i : i + 4])]


def test_static_stretch_skips_detection_and_walkers_are_detected(intel_frames: list[Frame]) -> None:
    pipe, rec = _pipeline({"motion_gating": True})
    results = _run(pipe, intel_frames)
    empty = set(range(5, 58))
    walk = set(range(62, 125))
    assert len(empty & set(rec.seen)) <= 3, "an empty corridor should barely reach the detector"
    assert len(walk & set(rec.seen)) >= 0.8 * len(walk)
    full_pipe, _ = _pipeline({"motion_gating": False})
    full = _run(full_pipe, intel_frames)
    people = [i for i in walk if len(full[i].detections)]
    gated = [i for i in people if len(results[i].detections)]
    assert len(gated) >= 0.9 * len(people)


def test_region_detection_finds_the_walkers(intel_frames: list[Frame]) -> None:
    pipe, rec = _pipeline({"motion_gating": True, "region_detection": True})
    results = _run(pipe, intel_frames)
    assert pipe.gate is not None and pipe.gate.stats["region"] > 20
    assert any(shape != intel_frames[0].shape for shape in rec.shapes)  # crops were detected
    found = [i for i in range(70, 125) if len(results[i].detections)]
    assert len(found) >= 20


def test_detect_every_k_keeps_ids_and_the_zone_alert(pets_frames: list[Frame]) -> None:
    k3, rec = _pipeline({"detect_every": 3, "adaptive_k": False}, rules=True)
    full, _ = _pipeline({"motion_gating": False}, rules=True)
    got, ref = _run(k3, pets_frames), _run(full, pets_frames)
    assert len(rec.seen) <= len(pets_frames) // 3 + 6  # + the first batch, planned before tracks
    for prev, cur in zip(got, got[1:]):  # predicted frames carry the ids of the tracks
        if cur.frame.index not in rec.seen and len(cur.detections):
            assert set(_ids(cur)) <= set(_ids(prev))
    ids = {t for r in got for t in _ids(r) if t >= 0}
    ref_ids = {t for r in ref for t in _ids(r) if t >= 0}
    assert len(ids) <= len(ref_ids) + 2, "prediction must not fragment tracks"
    zone = [a for r in got for a in r.alerts if a.rule == "south_lawn"]
    assert zone and any(a.rule == "south_lawn" for r in ref for a in r.alerts)


def test_motion_masks_ignore_motion() -> None:
    md = MotionDetector(masks=[[(0, 0), (80, 0), (80, 120), (0, 120)]], warmup=1)
    grey = np.full((120, 160, 3), 90, np.uint8)
    md.detect(Frame("m", 0, 0.0, grey))
    md.detect(Frame("m", 1, 0.1, grey))
    moved = grey.copy()
    moved[40:80, 10:40] = 250  # inside the mask
    assert not md.detect(Frame("m", 2, 0.2, moved)).any
    moved[40:80, 110:140] = 250  # outside
    assert md.detect(Frame("m", 3, 0.3, moved)).any


@pytest.mark.parametrize(
    ("box", "size", "shape", "expected"),
    [
        ([100, 100, 150, 200], 416, (576, 768), [0, 0, 416, 416]),
        ([700, 500, 760, 570], 416, (576, 768), [352, 160, 768, 576]),
        ([0, 0, 768, 576], 416, (576, 768), [0, 0, 768, 576]),
    ],
)
def test_region_grows_to_the_model_input(box, size, shape, expected) -> None:  # type: ignore[no-untyped-def]
    assert _grow_to(np.array(box, np.float32), size, shape).tolist() == expected


def test_shortcuts_off_by_config() -> None:
    assert not PerformanceConfig().active or PerformanceConfig().motion_gating
    assert (
        Pipeline.from_config(
            parse_config({"performance": {"motion_gating": False, "detect_every": 1}})
        ).gate
        is None
    )
    assert isinstance(
        Pipeline.from_config(parse_config({"performance": {"detect_every": 2}})).gate, Gate
    )


def _night(frames: list[Frame]) -> list[Frame]:
    """The frames as a low-light camera sees them: a quarter of the exposure, a darkening gamma,
    sensor noise after the gain (benchmarks/camera_shift.py's night shift)."""
    rng = np.random.default_rng(0)
    out = []
    for f in frames:
        dark = 255.0 * (f.image.astype(np.float32) / 255.0 * 0.25) ** 1.4
        noisy = np.clip(dark + rng.normal(0.0, 4.0, f.image.shape), 0, 255).astype(np.uint8)
        out.append(Frame(f.camera_id, f.index, f.timestamp, noisy))
    return out


def test_night_walkers_keep_the_detector_running(pets_frames: list[Frame]) -> None:
    """At night a walker differs from the background by a few grey levels: without the contrast
    stretch the gate stops seeing motion and skips the detector, and the zone alert is lost."""
    night = _night(pets_frames)
    zone_alerts = {}
    detected = {}
    for contrast in (True, False):
        pipe, rec = _pipeline({"motion_contrast": contrast}, rules=True)
        results = _run(pipe, night)
        detected[contrast] = len(rec.seen)
        zone_alerts[contrast] = [a for r in results for a in r.alerts if a.rule == "south_lawn"]
    assert detected[True] >= 0.9 * len(night), detected  # people walk in every frame
    assert zone_alerts[True], "no south_lawn alert on the night frames"
    assert detected[False] < 0.5 * len(night), detected  # what the stretch fixes
