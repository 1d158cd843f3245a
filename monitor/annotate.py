"""Draw detections, track ids, rule geometry, alert banners and privacy masks on frames.

Boxes use ultralytics' Annotator on its cv2 path (the PIL path may try to download a font).
Banner text sits on a filled box so it stays readable on any background.
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
        from ultralytics.utils.plotting import Annotator, colors

        img = frame.image.copy()
        if rules is not None:
            rules.draw(img)
        ann = Annotator(img, pil=False)
        names = dets.names
        for i in range(len(dets)):
            tid = -1 if dets.tracker_id is None else int(dets.tracker_id[i])
            label = f"{names[i]} {dets.confidence[i]:.2f}" + (f" #{tid}" if tid >= 0 else "")
            color = colors(tid if tid >= 0 else int(dets.class_id[i]), True)
            ann.box_label(dets.xyxy[i].tolist(), label, color=color)
        img = ann.result()
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
