"""Newest annotated frame of each camera, published for viewers as files replaced atomically.

``<media_root>/live/<camera>.jpg`` is the picture and ``<camera>.json`` says when it was taken
(capture wall time), when it was published and its frame index, so a viewer can tell a fresh frame
from a stale one. Each file is written beside its target and renamed over it (``os.replace``): a
reader never sees half a JPEG. The images come from the sink, privacy masks already applied.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

LIVE_DIR = "live"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class FramePublisher:
    """Writes at most ``fps`` frames per second per camera under ``<media_root>/live/``.

    Example:
        >>> import tempfile
        >>> pub = FramePublisher(Path(tempfile.mkdtemp()), fps=2)
        >>> pub.publish("door", np.zeros((48, 64, 3), np.uint8), captured_at=1.0, index=0)
        True
        >>> pub.publish("door", np.zeros((48, 64, 3), np.uint8), captured_at=1.1, index=1)
        False
        >>> sorted(p.name for p in (pub.root).iterdir())
        ['door.jpg', 'door.json']
    """

    def __init__(self, media_root: Path, fps: float, quality: int = 80) -> None:
        self.root = Path(media_root) / LIVE_DIR
        self.root.mkdir(parents=True, exist_ok=True)
        self.interval = 1.0 / fps if fps > 0 else float("inf")
        self.quality = quality
        self._last: dict[str, float] = {}

    def publish(
        self, camera_id: str, image: np.ndarray, captured_at: float, index: int,
        extra: dict[str, Any] | None = None,
    ) -> bool:  # fmt: skip
        """Publish ``image`` unless this camera's last one is newer than the interval."""
        now = time.monotonic()
        if now - self._last.get(camera_id, -float("inf")) < self.interval:
            return False
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return False
        self._last[camera_id] = now
        _write_atomic(self.root / f"{camera_id}.jpg", jpeg.tobytes())
        meta = {"camera_id": camera_id, "timestamp": captured_at, "published_at": time.time(),
                "index": index, "width": image.shape[1], "height": image.shape[0], **(extra or {})}  # fmt: skip
        _write_atomic(self.root / f"{camera_id}.json", json.dumps(meta).encode())
        return True

    def remove(self, camera_id: str) -> None:
        """Forget a camera taken out of the config (its files go, so viewers do not show it)."""
        self._last.pop(camera_id, None)
        for ext in (".jpg", ".json"):
            (self.root / f"{camera_id}{ext}").unlink(missing_ok=True)
