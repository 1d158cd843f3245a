"""Sliced (tiled) inference: any backend run on overlapping tiles plus the whole frame, merged.

A detector at 416 px sees a 1920-px frame shrunk 4.6x: a person 60 px tall becomes 13 px, under
what the network finds. Running it on overlapping tiles (native or near-native resolution) and on
the full frame, then merging, recovers small objects at the cost of one forward pass per tile
(SAHI, Akyon et al. 2022). Merging is greedy by score, suppressing a box whose IoU with a kept box
of its class passes ``iou`` or that lies mostly inside one (intersection over the smaller box
above ``ios``): a person cut by a tile edge leaves a partial box inside the full one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from monitor.schema import ConfigBase
from monitor.types import Detections, Frame

__all__ = ["TiledDetector", "TilingConfig", "merge", "tile_windows"]


class TilingConfig(ConfigBase):
    """Sliced inference settings (``model.tiling``); off unless ``enabled``.

    Example:
        >>> TilingConfig(enabled=True, tile=320).overlap
        0.2
    """

    enabled: bool = Field(False, description="Run the detector on tiles plus the full frame.")
    tile: int = Field(640, ge=64, le=4096, description="Tile side in frame pixels.")
    overlap: float = Field(
        0.2, ge=0.0, lt=0.9, description="Fraction of a tile shared by neighbours."
    )
    full_frame: bool = Field(True, description="Also run on the whole frame (large objects).")
    iou: float = Field(0.5, ge=0.0, le=1.0, description="Merge: suppress boxes over this IoU.")
    ios: float = Field(
        0.8, ge=0.0, le=1.0, description="Merge: suppress boxes this much inside a kept box."
    )
    cameras: list[str] | None = Field(
        None, description="Tile only frames of these camera ids (None = every camera)."
    )


def tile_windows(height: int, width: int, tile: int, overlap: float) -> list[tuple[int, ...]]:
    """``(x1, y1, x2, y2)`` windows of side ``tile`` covering the frame with ``overlap``.

    Example:
        >>> tile_windows(576, 768, 320, 0.2)[:3]
        [(0, 0, 320, 320), (256, 0, 576, 320), (448, 0, 768, 320)]
    """

    def starts(size: int) -> list[int]:
        if size <= tile:
            return [0]
        step = max(1, int(tile * (1 - overlap)))
        out = list(range(0, size - tile, step))
        return [*out, size - tile]

    return [
        (x, y, min(x + tile, width), min(y + tile, height))
        for y in starts(height)
        for x in starts(width)
    ]


def merge(dets: Detections, iou: float, ios: float) -> Detections:
    """Greedy per-class suppression by IoU or intersection over the smaller box."""
    if len(dets) < 2:
        return dets
    order = np.argsort(-dets.confidence, kind="stable")
    boxes = dets.xyxy[order].astype(np.float64)
    cls = dets.class_id[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if not alive[i]:
            continue
        rest = np.flatnonzero(alive & (cls == cls[i]))
        rest = rest[rest > i]
        if not len(rest):
            continue
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        union = areas[i] + areas[rest] - inter
        smaller = np.minimum(areas[i], areas[rest])
        kill = (inter / np.maximum(union, 1e-9) > iou) | (inter / np.maximum(smaller, 1e-9) > ios)
        alive[rest[kill]] = False
    return dets[np.sort(order[alive])]


def _concat(parts: Sequence[Detections], names: dict[int, str]) -> Detections:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Detections.empty(names)
    return Detections(
        np.concatenate([p.xyxy for p in parts]),
        np.concatenate([p.confidence for p in parts]),
        np.concatenate([p.class_id for p in parts]),
        class_names=names,
    )


class TiledDetector:
    """Wraps a detector: tiles (and the full frame) of each frame go through it in one batch.

    Example:
        >>> det = TiledDetector(create_detector(cfg), TilingConfig(enabled=True))  # doctest: +SKIP
        >>> [dets] = det.detect([frame])  # doctest: +SKIP
    """

    def __init__(self, inner: object, cfg: TilingConfig) -> None:
        self.inner = inner
        self.cfg = cfg

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # class_names, weights ... of the wrapped backend

    def _wants(self, frame: Frame) -> bool:
        return self.cfg.cameras is None or frame.camera_id in self.cfg.cameras

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """One ``Detections`` per frame in frame pixels; untiled cameras go straight through."""
        out: list[Detections] = []
        for frame in frames:
            if not self._wants(frame):
                out += self.inner.detect([frame])  # type: ignore[attr-defined]
                continue
            out.append(self._detect_tiled(frame))
        return out

    def _detect_tiled(self, frame: Frame) -> Detections:
        h, w = frame.image.shape[:2]
        windows = tile_windows(h, w, self.cfg.tile, self.cfg.overlap)
        crops = [
            Frame(frame.camera_id, frame.index, frame.timestamp, frame.image[y1:y2, x1:x2].copy())
            for x1, y1, x2, y2 in windows
        ]
        if self.cfg.full_frame and len(windows) > 1:
            crops.append(frame)
            windows.append((0, 0, w, h))
        results = self.inner.detect(crops)  # type: ignore[attr-defined]
        names: dict[int, str] = dict(results[0].class_names) if results else {}
        shifted = []
        for (x1, y1, _, _), d in zip(windows, results, strict=True):
            xyxy = d.xyxy + np.array([x1, y1, x1, y1], np.float32)
            shifted.append(Detections(xyxy, d.confidence, d.class_id, class_names=names))
        return merge(_concat(shifted, names), self.cfg.iou, self.cfg.ios)
