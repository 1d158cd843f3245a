"""Per-frame motion features for the anomaly model: moving objects and a frame-difference cell map.

Objects come from background subtraction (connected components of foreground), so carts, bikes and
skaters a person detector misses are still objects; detector boxes can be passed in beside them.
Each object gets its velocity from dense optical flow (OpenCV's DIS, medium preset) inside its mask. The region cue is the
frame-difference energy per grid cell. Everything here is causal: one call per frame, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from monitor.types import Detections

_OPEN = np.ones((3, 3), np.uint8)
_CLOSE = np.ones((5, 5), np.uint8)


@dataclass(frozen=True)
class FeatureParams:
    """Settings of the feature extractor; stored in the model file so scoring matches training.

    Args:
        width: Working width in pixels; frames are resized to ``(width, height)``.
        height: Working height in pixels.
        cell: Grid cell size in pixels for the frame-difference energy map.
        fg_threshold: Grey-level difference from the background that counts as foreground.
        min_area: Smallest foreground component, in pixels, kept as an object.
        bg_rate: Running-average rate of the background on pixels that are not foreground.
        flow_window: Side in pixels of the sliding window whose mean flow speed is the region cue.
    """

    width: int = 360
    height: int = 240
    cell: int = 20
    fg_threshold: float = 25.0
    min_area: int = 40
    bg_rate: float = 0.01
    flow_window: int = 30


@dataclass(frozen=True)
class MotionObject:
    """One moving object in one frame.

    Args:
        box: ``(4,)`` xyxy in working-resolution pixels.
        velocity: ``(2,)`` mean optical flow (dx, dy) in pixels per frame inside the object.
        area: Foreground pixels inside the object.
        source: ``motion`` (background subtraction) or ``detector`` (a detector box).
        label: Detector class name, or ``moving object``.
    """

    box: tuple[float, float, float, float]
    velocity: tuple[float, float]
    area: int
    source: str = "motion"
    label: str = "moving object"

    @property
    def speed(self) -> float:
        """Pixels per frame."""
        return float(np.hypot(*self.velocity))

    @property
    def bottom(self) -> float:
        """y of the bottom edge, where the object stands (its depth in the scene)."""
        return self.box[3]


@dataclass(frozen=True)
class FrameFeatures:
    """What the extractor measured on one frame.

    Args:
        cells: ``(H // cell, W // cell)`` mean absolute frame difference per cell.
        objects: Moving objects found in the frame.
        flow_peak: Highest mean optical-flow speed (px/frame) over any ``flow_window`` square.
        flow_peak_at: ``(x, y)`` centre of that square.
    """

    cells: np.ndarray = field(repr=False)
    objects: tuple[MotionObject, ...] = ()
    flow_peak: float = 0.0
    flow_peak_at: tuple[int, int] = (0, 0)


def to_gray(image: np.ndarray, params: FeatureParams) -> np.ndarray:
    """``(H, W)`` uint8 grey image at the working size (BGR or grey input)."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if gray.shape != (params.height, params.width):
        gray = cv2.resize(gray, (params.width, params.height), interpolation=cv2.INTER_AREA)
    return gray


def cell_energy(diff: np.ndarray, cell: int) -> np.ndarray:
    """Mean of ``diff`` over non-overlapping ``cell`` x ``cell`` blocks (edges cropped)."""
    gh, gw = diff.shape[0] // cell, diff.shape[1] // cell
    d = diff[: gh * cell, : gw * cell]
    return d.reshape(gh, cell, gw, cell).mean(axis=(1, 3)).astype(np.float32)


def flow_peak(flow: np.ndarray, window: int) -> tuple[float, tuple[int, int]]:
    """Highest mean flow speed over ``window`` px squares fully inside the frame, and its centre."""
    mag = cv2.magnitude(flow[..., 0], flow[..., 1])
    h = window // 2
    mean = cv2.blur(mag, (window, window))[h : mag.shape[0] - h, h : mag.shape[1] - h]
    if mean.size == 0:
        return 0.0, (0, 0)
    y, x = np.unravel_index(int(np.argmax(mean)), mean.shape)
    return float(mean[y, x]), (int(x + h), int(y + h))


def _blob_objects(mask: np.ndarray, flow: np.ndarray, min_area: int) -> list[MotionObject]:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask)
    objects = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            continue
        sel = lab[y : y + h, x : x + w] == i
        v = flow[y : y + h, x : x + w][sel].mean(axis=0)
        box = (float(x), float(y), float(x + w), float(y + h))
        objects.append(MotionObject(box, (float(v[0]), float(v[1])), area))
    return objects


def _detector_objects(
    dets: Detections, mask: np.ndarray, flow: np.ndarray, scale: tuple[float, float]
) -> list[MotionObject]:
    objects = []
    for (x1, y1, x2, y2), name in zip(dets.xyxy, dets.names, strict=True):
        a, b = int(x1 * scale[0]), int(y1 * scale[1])
        c, d = int(np.ceil(x2 * scale[0])), int(np.ceil(y2 * scale[1]))
        a, b, c, d = max(a, 0), max(b, 0), min(c, mask.shape[1]), min(d, mask.shape[0])
        if c <= a or d <= b:
            continue
        sel = mask[b:d, a:c] > 0
        region = flow[b:d, a:c]
        v = region[sel].mean(axis=0) if sel.any() else region.reshape(-1, 2).mean(axis=0)
        box = (float(a), float(b), float(c), float(d))
        objects.append(
            MotionObject(box, (float(v[0]), float(v[1])), int(sel.sum()), "detector", name)
        )
    return objects


class MotionExtractor:
    """Causal per-camera feature extractor: keeps the previous frame and a running background.

    Example:
        >>> p = FeatureParams(width=40, height=20, cell=10)
        >>> ext = MotionExtractor(np.zeros((20, 40), np.float32), p)
        >>> ext.step(np.zeros((20, 40, 3), np.uint8)).cells.shape
        (2, 4)
    """

    def __init__(self, background: np.ndarray, params: FeatureParams) -> None:
        if background.shape != (params.height, params.width):
            raise ValueError(
                f"background is {background.shape}, params say {(params.height, params.width)}"
            )
        self.params = params
        self.background = background.astype(np.float32).copy()
        self.prev: np.ndarray | None = None
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def step(self, image: np.ndarray, detections: Detections | None = None) -> FrameFeatures:
        """Features of the next frame; ``detections`` are boxes in the original image's pixels."""
        p = self.params
        gray = to_gray(image, p)
        prev = gray if self.prev is None else self.prev
        diff = cv2.absdiff(gray, prev)
        flow = np.zeros((*gray.shape, 2), np.float32)
        if self.prev is not None:
            flow = self._flow.calc(prev, gray, flow)
        fg = (np.abs(gray.astype(np.float32) - self.background) > p.fg_threshold).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, _OPEN)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, _CLOSE)
        objects = _blob_objects(fg, flow, p.min_area)
        if detections is not None and len(detections):
            h, w = image.shape[:2]
            objects += _detector_objects(detections, fg, flow, (p.width / w, p.height / h))
        if p.bg_rate > 0:
            cv2.accumulateWeighted(gray.astype(np.float32), self.background, p.bg_rate, 1 - fg)
        self.prev = gray
        peak, at = flow_peak(flow, p.flow_window)
        cells = cell_energy(diff.astype(np.float32), p.cell)
        return FrameFeatures(cells, tuple(objects), peak, at)

    def reset(self) -> None:
        """Forget the previous frame (a new clip or a gap in the stream)."""
        self.prev = None


def median_background(frames: list[np.ndarray], params: FeatureParams, step: int = 5) -> np.ndarray:
    """``(H, W)`` float32 per-pixel median of every ``step``-th frame: the empty scene."""
    if not frames:
        raise ValueError("no frames to learn a background from")
    sample = np.stack([to_gray(f, params) for f in frames[::step]])
    return np.median(sample, axis=0).astype(np.float32)
