"""Draw detections, track ids, rule geometry, alert banners and privacy masks on frames.

Boxes and labels are drawn with OpenCV (ultralytics' colour palette): each label is placed where
it stays inside the frame and clear of the labels already placed (above the box, inside it,
below it, or stacked), so a crowd stays readable. Banner text sits on a filled box so it stays
readable on any background.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from monitor.types import Alert, AnomalyScore, Detections, Frame

if TYPE_CHECKING:
    from monitor.rules import RuleEngine

ALERT_COLOR = (0, 0, 255)
TEXT_COLOR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALE = 0.4
LABEL_PAD = 2
Rect = tuple[int, int, int, int]  # x1, y1, x2, y2


def apply_masks(image: np.ndarray, polygons: Sequence[np.ndarray]) -> np.ndarray:
    """A copy of ``image`` with every ``(K, 2)`` pixel polygon filled black (privacy masks)."""
    out = image.copy()
    for poly in polygons:
        cv2.fillPoly(out, [np.round(poly).astype(np.int32).reshape(-1, 1, 2)], (0, 0, 0))
    return out


def draw_text_box(
    img: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int],
    scale: float = 0.5, bg: tuple[int, int, int] = (0, 0, 0),
) -> int:  # fmt: skip
    """Text on a filled box (``bg``) with its top-left at ``origin``; returns the box height."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = origin
    x = max(0, min(x, img.shape[1] - w - 6))
    cv2.rectangle(img, (x, y), (x + w + 6, y + h + base + 6), bg, -1)
    cv2.putText(img, text, (x + 3, y + h + 3), FONT, scale, color, 1, cv2.LINE_AA)
    return h + base + 6


def _overlap(a: Rect, b: Rect) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def place_labels(
    boxes: np.ndarray, sizes: Sequence[tuple[int, int]], frame: tuple[int, int]
) -> list[Rect]:
    """A label rectangle per box, inside ``frame`` (w, h) and apart from the others if possible.

    Args:
        boxes: ``(N, 4)`` xyxy pixel boxes.
        sizes: ``(w, h)`` of each label, padding included.
        frame: ``(width, height)`` of the image.

    Tries above the box, inside its top, below it, then stacked further up or down; takes the
    first spot that overlaps no placed label, else the least overlapping one.
    """
    fw, fh = frame
    placed: list[Rect] = []
    for (x1, y1, x2, y2), (w, h) in zip(np.round(boxes).astype(int).tolist(), sizes):
        ys = [y1 - h, y1, y2, *(y1 - h * k for k in (2, 3)), *(y2 + h * k for k in (1, 2))]
        best: Rect | None = None
        best_cost = -1
        for x in (x1, x2 - w):
            for y in ys:
                cx, cy = min(max(x, 0), max(fw - w, 0)), min(max(y, 0), max(fh - h, 0))
                rect = (cx, cy, cx + w, cy + h)
                cost = sum(_overlap(rect, r) for r in placed)
                if best is None or cost < best_cost:
                    best, best_cost = rect, cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        assert best is not None
        placed.append(best)
    return placed


def draw_boxes(img: np.ndarray, dets: Detections) -> list[Rect]:
    """Boxes with class, confidence and track id, labels kept apart; returns the label rects."""
    from ultralytics.utils.plotting import colors

    labels, palette, sizes = [], [], []
    for i in range(len(dets)):
        tid = -1 if dets.tracker_id is None else int(dets.tracker_id[i])
        labels.append(
            f"{dets.names[i]} {dets.confidence[i]:.2f}" + (f" #{tid}" if tid >= 0 else "")
        )
        palette.append(colors(tid if tid >= 0 else int(dets.class_id[i]), True))
        (w, h), base = cv2.getTextSize(labels[-1], FONT, LABEL_SCALE, 1)
        sizes.append((w + 2 * LABEL_PAD, h + base + 2 * LABEL_PAD))
    for box, color in zip(np.round(dets.xyxy).astype(int).tolist(), palette):
        cv2.rectangle(img, (box[0], box[1]), (box[2], box[3]), color, 2, cv2.LINE_AA)
    rects = place_labels(dets.xyxy, sizes, (img.shape[1], img.shape[0]))
    for (x1, y1, x2, y2), text, color in zip(rects, labels, palette):
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), color, -1)
        ink = (0, 0, 0) if sum(color) > 400 else TEXT_COLOR
        base_y = y2 - LABEL_PAD - cv2.getTextSize(text, FONT, LABEL_SCALE, 1)[1]
        cv2.putText(img, text, (x1 + LABEL_PAD, base_y), FONT, LABEL_SCALE, ink, 1, cv2.LINE_AA)
    return rects


class FrameAnnotator:
    """Renders one frame's results; returns a new image and leaves ``frame.image`` untouched.

    Example:
        >>> ann = FrameAnnotator()
        >>> img = ann.annotate(Frame("c", 0, 0.0, np.zeros((64, 64, 3), np.uint8)), Detections.empty())
        >>> img.shape
        (64, 64, 3)
    """

    def annotate(
        self,
        frame: Frame,
        dets: Detections,
        alerts: Sequence[Alert] = (),
        anomaly: AnomalyScore | None = None,
        rules: RuleEngine | None = None,
        masks: Sequence[np.ndarray] = (),
    ) -> np.ndarray:
        """Boxes with class, confidence and track id; rule geometry; active alerts as a banner.

        ``masks`` (privacy polygons) black out the scene and anything drawn over it; the banner
        and footer are drawn last, on top.
        """
        img = frame.image.copy()
        if rules is not None:
            rules.draw(img)
        self.label_rects = draw_boxes(img, dets)
        if masks:
            img = apply_masks(img, masks)
        black = (0, 0, 0)
        lines = [(f"ALERT {a.rule}: {a.explanation}"[:100], ALERT_COLOR) for a in alerts]
        if anomaly is not None:
            bg = ALERT_COLOR if anomaly.flagged else black
            lines.append((f"anomaly {anomaly.score:.2f} / thr {anomaly.threshold:.2f}", bg))
        y = 4
        for text, bg in lines:
            y += draw_text_box(img, text, (4, y), TEXT_COLOR, bg=bg)
        footer = f"{frame.camera_id} #{frame.index} t={frame.timestamp:.2f}s"
        draw_text_box(img, footer, (4, img.shape[0] - 24), TEXT_COLOR, 0.45)
        return img
