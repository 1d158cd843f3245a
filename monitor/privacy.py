"""Person redaction in stored and shown media: blur or pixelate people, or their faces only.

Redaction runs in the sink on the image that gets written (after privacy masks, before the
annotation), never on what the stages see: detections, tracks and alerts are unaffected. Faces
come from OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades`` in wheels that ship it,
else Debian's ``opencv-data``; OpenCV 5 wheels have neither the XML nor ``CascadeClassifier``,
and then every head is redacted by its region); where it finds no face in a person's box, that person's head
region (the top fifth of the box) is redacted instead, so a missed face is never left clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from monitor.schema import ConfigBase
from monitor.types import Detections, Frame

CASCADE = "haarcascade_frontalface_default.xml"
CASCADE_DIRS = ("/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades")
HEAD_FRACTION = 0.2


class RedactConfig(ConfigBase):
    """Per-camera redaction of people in everything the sink writes or publishes."""

    mode: Literal["off", "persons", "faces"] = Field(
        "off", description="Redact whole persons, faces only (head region fallback), or nothing."
    )
    style: Literal["blur", "pixelate"] = Field("blur", description="How a region is hidden.")
    classes: list[str] = Field(
        default_factory=lambda: ["person"], description="Detection classes treated as people."
    )
    padding: float = Field(0.1, ge=0, le=1, description="Box growth on each side (fraction).")
    cascade: str | None = Field(None, description="Face cascade XML; None = OpenCV's bundled.")


def find_cascade(name: str = CASCADE) -> Path | None:
    """The bundled Haar cascade file (OpenCV wheel or the system's opencv-data); None when this
    OpenCV has no ``CascadeClassifier`` (OpenCV 5 moved it out of the main wheel)."""
    if not hasattr(cv2, "CascadeClassifier"):
        return None
    dirs = [getattr(getattr(cv2, "data", None), "haarcascades", ""), *CASCADE_DIRS]
    for d in dirs:
        if d and (Path(d) / name).is_file():
            return Path(d) / name
    return None


@lru_cache(maxsize=4)
def _cascade(path: str) -> Any:
    clf = cv2.CascadeClassifier(path)  # type: ignore[attr-defined]  # absent from OpenCV 5
    if clf.empty():
        raise FileNotFoundError(f"cannot load face cascade {path}")
    return clf


def hide(image: np.ndarray, box: tuple[int, int, int, int], style: str) -> None:
    """Blur or pixelate ``image[y1:y2, x1:x2]`` in place; the blur scales with the box."""
    x1, y1, x2, y2 = box
    roi = image[y1:y2, x1:x2]
    if roi.size == 0:
        return
    h, w = roi.shape[:2]
    if style == "pixelate":
        block = max(6, max(w, h) // 8)  # coarse enough that a face or gait cannot be read
        small = cv2.resize(
            roi, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA
        )
        roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    else:
        k = max(3, (max(w, h) // 3) | 1)
        roi[:] = cv2.GaussianBlur(cv2.blur(roi, (k, k)), (k, k), 0)


def _clip(box: np.ndarray, pad: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * pad, (y2 - y1) * pad
    h, w = shape[:2]
    return (max(0, int(x1 - dx)), max(0, int(y1 - dy)),
            min(w, int(np.ceil(x2 + dx))), min(h, int(np.ceil(y2 + dy))))  # fmt: skip


def face_boxes(image: np.ndarray, person: tuple[int, int, int, int], cascade: str) -> list:
    """Faces found in the upper half of one person box, in image pixels (upscaled search)."""
    x1, y1, x2, y2 = person
    roi = image[y1 : y1 + max(1, (y2 - y1) // 2), x1:x2]
    if roi.size == 0:
        return []
    scale = max(1.0, 96.0 / max(1, roi.shape[1]))
    gray = cv2.cvtColor(cv2.resize(roi, None, fx=scale, fy=scale), cv2.COLOR_BGR2GRAY)
    found = _cascade(cascade).detectMultiScale(gray, 1.1, 4, minSize=(20, 20))
    return [(x1 + int(fx / scale), y1 + int(fy / scale),
             x1 + int((fx + fw) / scale) + 1, y1 + int((fy + fh) / scale) + 1)
            for fx, fy, fw, fh in found]  # fmt: skip


def redact_image(image: np.ndarray, dets: Detections, cfg: RedactConfig) -> np.ndarray:
    """A copy of ``image`` (H, W, 3) with the people in ``dets`` hidden as ``cfg`` says."""
    if cfg.mode == "off" or len(dets) == 0:
        return image
    names = dets.names
    out = image.copy()
    cascade = None
    if cfg.mode == "faces":
        found = Path(cfg.cascade) if cfg.cascade else find_cascade()
        cascade = str(found) if found is not None else None
    for i in range(len(dets)):
        if names[i] not in cfg.classes:
            continue
        box = _clip(dets.xyxy[i], cfg.padding, out.shape)
        if cfg.mode == "persons":
            hide(out, box, cfg.style)
            continue
        faces = face_boxes(image, box, cascade) if cascade else []
        if not faces:  # no face found (or no cascade): hide the head region instead
            x1, y1, x2, y2 = box
            faces = [(x1, y1, x2, y1 + max(2, int((y2 - y1) * HEAD_FRACTION)))]
        for face in faces:
            hide(out, face, cfg.style)
    return out


class Redactor:
    """Per-camera redaction settings applied to the frames the sink writes.

    Example:
        >>> r = Redactor({"gate": RedactConfig(mode="persons")})
        >>> r.settings("other").mode
        'off'
    """

    def __init__(self, cameras: Mapping[str, RedactConfig]) -> None:
        self.cameras = dict(cameras)
        self.off = RedactConfig()

    def settings(self, camera_id: str) -> RedactConfig:
        """The redaction of one camera (off when it has none)."""
        return self.cameras.get(camera_id, self.off)

    def apply(self, frame: Frame, dets: Detections) -> Frame:
        """The frame with its people redacted (the same frame when redaction is off)."""
        cfg = self.settings(frame.camera_id)
        if cfg.mode == "off" or len(dets) == 0:
            return frame
        image = redact_image(frame.image, dets, cfg)
        return Frame(frame.camera_id, frame.index, frame.timestamp, image)
