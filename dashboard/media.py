"""Media read safely: only under the store's media root, size-capped, checked before display.

A missing, empty, oversized, non-image or path-escaping media row gives ``None`` and the page
shows a placeholder; no exception (and so no traceback with server paths) reaches the browser.
Images are decoded with Pillow and re-encoded, so what the browser gets is always a valid image.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from monitor.store import StoreReader

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_VIDEO_BYTES = 200 * 1024 * 1024
MAX_JSONL_LINES = 200_000
_VIDEO_MAGIC = (b"ftyp", b"\x1a\x45\xdf\xa3")  # ISO BMFF (mp4) at offset 4, WebM/EBML at 0
_PATH_COLORS = ((255, 64, 64), (64, 200, 255), (255, 210, 0), (120, 255, 120), (255, 120, 255))


def _read(reader: StoreReader, rel: str | None, cap: int) -> tuple[Path, bytes] | None:
    try:
        path = reader.resolve(rel)
        if path is None or not 0 < path.stat().st_size <= cap:
            return None
        return path, path.read_bytes()
    except (OSError, ValueError):
        return None


def load_image(reader: StoreReader, rel: str | None) -> Image.Image | None:
    """The image at ``rel`` (under the media root) as RGB, or None when unusable."""
    got = _read(reader, rel, MAX_IMAGE_BYTES)
    if got is None:
        return None
    try:
        img = Image.open(io.BytesIO(got[1]))
        img.load()
        return img.convert("RGB")
    except Exception:  # noqa: BLE001 - any decoder failure (plugins raise their own) = unusable
        return None


def png_bytes(img: Image.Image) -> bytes:
    """PNG encoding of ``img``."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    """JPEG encoding of ``img`` (smaller than PNG for camera frames)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def load_video(reader: StoreReader, rel: str | None) -> tuple[bytes, str] | None:
    """(bytes, mime type) of a clip under the media root, None unless it is an mp4 or WebM."""
    got = _read(reader, rel, MAX_VIDEO_BYTES)
    if got is None:
        return None
    data = got[1]
    if data[4:8] == _VIDEO_MAGIC[0]:
        return data, "video/mp4"
    if data[:4] == _VIDEO_MAGIC[1]:
        return data, "video/webm"
    return None


def load_json(reader: StoreReader, rel: str) -> dict[str, object] | None:
    """A small JSON object under the media root (live health), None when unusable."""
    got = _read(reader, rel, 1024 * 1024)
    if got is None:
        return None
    try:
        doc = json.loads(got[1])
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _jsonl_rel(alert_media: str | None) -> str | None:
    """``<folder>/detections.jsonl`` of the input an alert's snapshot belongs to."""
    if not alert_media or "/alerts/" not in alert_media:
        return None
    return alert_media.split("/alerts/", 1)[0] + "/detections.jsonl"


def _iter_frames(reader: StoreReader, rel: str | None) -> list[dict[str, object]]:
    path = reader.resolve(rel)
    out: list[dict[str, object]] = []
    if path is None:
        return out
    try:
        with path.open("rb") as fh:
            for i, line in enumerate(fh):
                if i >= MAX_JSONL_LINES:
                    break
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
    except OSError:
        return []
    return out


def track_paths(
    reader: StoreReader, snapshot_rel: str | None, track_ids: Sequence[int], t0: float,
    t1: float, margin_s: float = 5.0,
) -> dict[int, list[tuple[float, float]]]:  # fmt: skip
    """Bottom-centre points of each alert track around [t0, t1], from the input's detections."""
    paths: dict[int, list[tuple[float, float]]] = {int(t): [] for t in track_ids}
    if not paths:
        return paths
    for rec in _iter_frames(reader, _jsonl_rel(snapshot_rel)):
        t = rec.get("time")
        if not isinstance(t, (int, float)) or not t0 - margin_s <= t <= t1 + margin_s:
            continue
        for box in rec.get("boxes") or []:  # type: ignore[attr-defined]
            tid = box.get("track_id") if isinstance(box, dict) else None
            if tid in paths:
                x1, _, x2, y2 = box["xyxy"]
                paths[tid].append(((x1 + x2) / 2, y2))
    return paths


def draw_paths(img: Image.Image, paths: dict[int, list[tuple[float, float]]]) -> Image.Image:
    """A copy of ``img`` with each track's path drawn as a polyline ending in a dot."""
    out = img.copy()
    draw = ImageDraw.Draw(out)
    for i, (tid, pts) in enumerate(sorted(paths.items())):
        color = _PATH_COLORS[i % len(_PATH_COLORS)]
        if len(pts) >= 2:
            draw.line(pts, fill=color, width=3)
        if pts:
            x, y = pts[-1]
            draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=color)
            draw.text((x + 7, y - 7), f"#{tid}", fill=color)
    return out


def occupancy(
    reader: StoreReader, camera_folder: str, bins: int = 48
) -> tuple[np.ndarray, int] | None:
    """Occupancy heatmap (RGB uint8 image) of box bottom-centres in an input, and its frames."""
    frames = _iter_frames(reader, f"{camera_folder}/detections.jsonl")
    xs, ys, w, h = [], [], 1.0, 1.0
    for rec in frames:
        for box in rec.get("boxes") or []:  # type: ignore[attr-defined]
            if isinstance(box, dict) and "xyxy" in box:
                x1, _, x2, y2 = box["xyxy"]
                xs.append((x1 + x2) / 2)
                ys.append(y2)
                w, h = max(w, x2), max(h, y2)
    if not xs:
        return None
    hist, _, _ = np.histogram2d(ys, xs, bins=(bins * 3 // 4, bins), range=((0, h), (0, w)))
    norm = np.log1p(hist) / max(np.log1p(hist).max(), 1e-9)
    rgb = np.stack([norm, norm**2, 0.3 * (1 - norm)], axis=-1)
    img = (rgb * 255).astype(np.uint8).repeat(8, axis=0).repeat(8, axis=1)
    return img, len(frames)
