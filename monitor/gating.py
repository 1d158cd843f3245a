"""Skipping detector work: motion gating, region detection and detect-every-k (``performance:``).

``Gate.detect`` decides per frame whether the detector runs and on what: nothing (no motion and no
live track: the frame is skipped), the whole frame, or one crop around motion and tracked objects
(region detection). Frames it does not detect come back as None: the pipeline then advances the
tracker by Kalman prediction alone, so rules keep seeing the tracked objects. Detect-every-k runs the
detector on every k-th frame of a camera and adapts: new motion away from any track, or a fast
track, forces detection on the next frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from monitor.detectors import Detector
from monitor.motion import Motion, MotionDetector, merge_boxes
from monitor.schema import ConfigBase, Point
from monitor.types import Detections, Frame

if TYPE_CHECKING:  # tracking imports monitor.config, which imports this module
    from monitor.tracking import Tracker


class PerformanceConfig(ConfigBase):
    """Work-skipping shortcuts; each one a switch, measured in benchmarks/batch_vs_yolo_predict.py."""

    motion_gating: bool = Field(
        True, description="Skip the detector on frames with no motion and no live track."
    )
    region_detection: bool = Field(
        False, description="Detect on one crop around motion and tracks instead of the frame."
    )
    detect_every: int = Field(
        1, ge=1, le=30, description="Detect every k-th frame; the tracker predicts in between."
    )
    adaptive_k: bool = Field(
        True, description="New motion or a fast track forces detection before the k-th frame."
    )
    idle_detect_every: int = Field(
        25, ge=1, description="With motion gating and no motion, re-detect live tracks this often."
    )
    fast_motion: float = Field(
        0.15, gt=0, description="A track is fast above this share of its box height per frame."
    )
    motion_width: int = Field(160, ge=32, description="Width of the motion analysis frame (px).")
    motion_threshold: int = Field(25, ge=1, le=255, description="Grey difference that is motion.")
    motion_min_area: float = Field(
        0.0005, ge=0, le=1, description="Smallest motion region, share of the frame area."
    )
    motion_alpha: float = Field(0.05, gt=0, le=1, description="Background learning rate per frame.")
    motion_contrast: bool = Field(
        True, description="Stretch grey levels before differencing, so dark scenes still move."
    )
    motion_masks: list[list[Point]] = Field(
        default_factory=list, description="Polygons where motion is ignored (trees, clocks)."
    )
    mask_units: Literal["px", "norm"] = Field(
        "px", description="Units of motion_masks: pixels, or 0-1 of the frame size."
    )
    region_padding: float = Field(32.0, ge=0, description="Pixels added around a region.")

    @property
    def active(self) -> bool:
        """Whether any shortcut is on (otherwise the pipeline detects every frame in full)."""
        return self.motion_gating or self.region_detection or self.detect_every > 1


@dataclass(frozen=True)
class Plan:
    """What to do with one frame: skip it, or detect inside ``region`` (None = whole frame)."""

    detect: bool
    region: np.ndarray | None = None


class Gate:
    """Decides and runs the detector work of each frame; per-camera state keyed by camera id.

    Args:
        cfg: The ``performance`` section.
        detector: Any backend.
        tracker: The pipeline's tracker (live boxes and speeds), or None.
    """

    def __init__(self, cfg: PerformanceConfig, detector: Detector, tracker: Tracker | None) -> None:
        self.cfg, self.detector, self.tracker = cfg, detector, tracker
        self.motion = MotionDetector(
            cfg.motion_width, cfg.motion_threshold, cfg.motion_min_area, cfg.motion_alpha,
            cfg.motion_masks, cfg.mask_units == "norm", contrast=cfg.motion_contrast,
        )  # fmt: skip
        self.class_names: dict[int, str] = dict(getattr(detector, "class_names", {}))
        hw = getattr(detector, "input_hw", None)
        self.input_size = int(max(hw) if hw else getattr(detector, "imgsz", 640))
        self._since: dict[str, int] = {}
        self._known: dict[str, np.ndarray] = {}  # last detected boxes: objects, tracked or not
        self.stats = {"full": 0, "region": 0, "predicted": 0, "skipped": 0}

    def _tracks(self, cam: str) -> tuple[np.ndarray, np.ndarray]:
        if self.tracker is None:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        return self.tracker.live_tracks(cam)

    def plan(self, frame: Frame) -> Plan:
        """Decide for one frame (updates the motion background and the per-camera counters)."""
        cfg, cam = self.cfg, frame.camera_id
        need_motion = cfg.motion_gating or cfg.region_detection or cfg.adaptive_k
        motion = self.motion.detect(frame) if need_motion else None
        boxes, speed = self._tracks(cam)
        since = self._since.get(cam, 1 << 30) + 1
        if cfg.motion_gating and motion is not None and not motion.any and not len(boxes):
            self._since[cam] = since
            self.stats["skipped"] += 1
            return Plan(False)
        still = cfg.motion_gating and motion is not None and not motion.any
        k = max(cfg.detect_every, cfg.idle_detect_every) if still else cfg.detect_every
        due = since >= k or not len(boxes)
        if not due and cfg.adaptive_k and not still:
            heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
            fast = bool((speed > cfg.fast_motion * heights).any())
            known = np.concatenate([boxes, self._known.get(cam, boxes[:0])])
            due = fast or (motion is not None and _new_motion(motion, known, cfg.region_padding))
        if not due:
            self._since[cam] = since
            self.stats["predicted"] += 1
            return Plan(False)
        self._since[cam] = 0
        region = self._region(frame, motion, boxes) if cfg.region_detection else None
        self.stats["region" if region is not None else "full"] += 1
        return Plan(True, region)

    def _region(self, frame: Frame, motion: Motion | None, tracks: np.ndarray) -> np.ndarray | None:
        """One crop around motion and tracks, at least the model input size; None = whole frame."""
        if motion is None or motion.warmup:
            return None
        parts = [b for b in (motion.boxes, tracks) if len(b)]
        if not parts:
            return None
        h, w = frame.shape
        box = merge_boxes(np.concatenate(parts), self.cfg.region_padding, (h, w))
        box = _grow_to(box, self.input_size, (h, w))
        area = (box[2] - box[0]) * (box[3] - box[1])
        return None if area >= 0.7 * h * w else box

    def detect(self, frames: Sequence[Frame]) -> list[Detections | None]:
        """Detections per frame (full or region, one detector call), None where not detected."""
        plans = [self.plan(f) for f in frames]
        todo = [(i, p.region) for i, p in enumerate(plans) if p.detect]
        inputs = [_crop(frames[i], r) for i, r in todo]
        found = self.detector.detect(inputs) if inputs else []
        out: list[Detections | None] = [None] * len(frames)
        for (i, region), dets in zip(todo, found):
            out[i] = dets if region is None else _shift(dets, region)
            self._known[frames[i].camera_id] = out[i].xyxy.astype(np.float32)  # type: ignore[union-attr]
        return out

    def reset(self, camera_id: str) -> None:
        """Forget a camera's background and counters."""
        self.motion.reset(camera_id)
        self._since.pop(camera_id, None)
        self._known.pop(camera_id, None)


def _new_motion(motion: Motion, tracks: np.ndarray, pad: float) -> bool:
    """Whether some motion region overlaps no (padded) track box: something new is moving."""
    if motion.warmup:
        return True
    if not len(motion.boxes):
        return False
    m, t = motion.boxes, tracks + np.array([-pad, -pad, pad, pad], np.float32)
    overlap = (
        (m[:, None, 0] < t[None, :, 2])
        & (m[:, None, 2] > t[None, :, 0])
        & (m[:, None, 1] < t[None, :, 3])
        & (m[:, None, 3] > t[None, :, 1])
    )
    return bool((~overlap.any(1)).any())


def _grow_to(box: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """``box`` widened (centred, clipped) to at least ``size`` x ``size`` inside ``shape`` (h, w)."""
    out = box.astype(np.float32).copy()
    for lo, hi, limit in ((0, 2, shape[1]), (1, 3, shape[0])):
        need = min(size, limit) - (out[hi] - out[lo])
        if need > 0:
            out[lo] -= need / 2
            out[hi] += need / 2
            shift = max(0.0, -out[lo]) - max(0.0, out[hi] - limit)
            out[lo], out[hi] = out[lo] + shift, out[hi] + shift
    return np.round(out).astype(np.float32)


def _crop(frame: Frame, region: np.ndarray | None) -> Frame:
    if region is None:
        return frame
    x1, y1, x2, y2 = (int(v) for v in region)
    image = np.ascontiguousarray(frame.image[y1:y2, x1:x2])
    return Frame(frame.camera_id, frame.index, frame.timestamp, image)


def _shift(dets: Detections, region: np.ndarray) -> Detections:
    """Crop-pixel detections moved back into frame pixels."""
    if not len(dets):
        return dets
    off = np.array([region[0], region[1], region[0], region[1]], np.float32)
    return Detections(
        dets.xyxy + off, dets.confidence, dets.class_id, dets.tracker_id, dets.class_names
    )


def build_gate(cfg: PerformanceConfig, detector: Detector, tracker: Tracker | None) -> Any:
    """A ``Gate`` when any shortcut is on, else None (the pipeline detects every frame)."""
    return Gate(cfg, detector, tracker) if cfg.active else None
