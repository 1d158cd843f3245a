"""Draw detections, track ids, zones, lines and alert banners on frames (ultralytics' Annotator).

The cv2 drawing path is used on purpose: ultralytics' PIL path may try to download a font.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from monitor.config import RulesConfig
from monitor.types import Alert, AnomalyScore, Detections, Frame

ZONE_COLOR = (0, 200, 255)
LINE_COLOR = (255, 0, 200)
ALERT_COLOR = (0, 0, 255)


class FrameAnnotator:
    """Renders one frame's results; returns a new image and leaves ``frame.image`` untouched.

    Example:
        >>> ann = FrameAnnotator(RulesConfig())
        >>> img = ann.annotate(Frame("c", 0, 0.0, np.zeros((64, 64, 3), np.uint8)), Detections.empty())
        >>> img.shape
        (64, 64, 3)
    """

    def __init__(self, rules: RulesConfig | None = None) -> None:
        self.rules = rules or RulesConfig()

    def _draw_rules(self, img: np.ndarray) -> None:
        polys = [(r.name, r.polygon) for r in self.rules.zones]
        polys += [(r.name, r.polygon) for r in self.rules.loitering if r.polygon]
        polys += [(r.name, r.polygon) for r in self.rules.crowd if r.polygon]
        for name, poly in polys:
            pts = np.asarray(poly, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(img, [pts], True, ZONE_COLOR, 2, cv2.LINE_AA)
            cv2.putText(img, name, tuple(pts[0, 0]), cv2.FONT_HERSHEY_SIMPLEX, 0.5, ZONE_COLOR, 1)
        for line in self.rules.lines:
            p1 = tuple(int(v) for v in line.start)
            p2 = tuple(int(v) for v in line.end)
            cv2.arrowedLine(img, p1, p2, LINE_COLOR, 2, cv2.LINE_AA, tipLength=0.03)
            cv2.putText(img, line.name, p1, cv2.FONT_HERSHEY_SIMPLEX, 0.5, LINE_COLOR, 1)

    def annotate(
        self,
        frame: Frame,
        dets: Detections,
        alerts: Sequence[Alert] = (),
        anomaly: AnomalyScore | None = None,
    ) -> np.ndarray:
        """Boxes with class, confidence and track id; rule geometry; active alerts as a banner."""
        from ultralytics.utils.plotting import Annotator, colors

        img = frame.image.copy()
        self._draw_rules(img)
        ann = Annotator(img, pil=False)
        names = dets.names
        for i in range(len(dets)):
            tid = -1 if dets.tracker_id is None else int(dets.tracker_id[i])
            label = f"{names[i]} {dets.confidence[i]:.2f}" + (f" #{tid}" if tid >= 0 else "")
            color = colors(tid if tid >= 0 else int(dets.class_id[i]), True)
            ann.box_label(dets.xyxy[i].tolist(), label, color=color)
        img = ann.result()
        lines = [f"ALERT {a.rule}: {a.explanation}"[:110] for a in alerts]
        if anomaly is not None:
            lines.append(f"anomaly {anomaly.score:.2f} / thr {anomaly.threshold:.2f}")
        for k, text in enumerate(lines):
            color = (
                ALERT_COLOR if k < len(alerts) or (anomaly and anomaly.flagged) else (255, 255, 255)
            )
            cv2.putText(img, text, (8, 22 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3)
            cv2.putText(img, text, (8, 22 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.55, color, 1)
        cv2.putText(
            img, f"{frame.camera_id} #{frame.index} t={frame.timestamp:.2f}s",
            (8, img.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
        )  # fmt: skip
        return img
