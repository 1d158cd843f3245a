"""Explanations and evidence for anomaly scores: which object or region, which feature, a heatmap.

Kept apart from the model so the explanation wording and the image output can change without
touching what is learned. The stage calls these only on frames that alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from monitor.anomaly.features import FrameFeatures
from monitor.anomaly.model import AnomalyModel

HEAT_FULL_SCALE = 6.0  # sigmas above normal that saturate the heatmap


@dataclass(frozen=True)
class AnomalyEvidence:
    """A one-line human explanation and the JSON-serialisable numbers behind it."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _scale_box(box: tuple[float, ...], sx: float, sy: float) -> list[int]:
    return [round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy)]


def _object_evidence(
    model: AnomalyModel, feats: FrameFeatures, sx: float, sy: float
) -> tuple[str, dict[str, Any]]:
    obj = max(feats.objects, key=model.object_z)
    b, z = model.band(obj.bottom), model.object_z(obj)
    box = _scale_box(obj.box, sx, sy)
    text = (
        f"{obj.label} at {box}: speed {obj.speed:.1f} px/frame, {z:.1f} sigma above this "
        f"zone's normal ({model.band_mean[b]:.1f} +- {model.band_std[b]:.1f} px/frame, depth "
        f"band {b + 1}/{len(model.band_mean)})"
    )
    data = {"feature": "speed", "box": box, "speed": round(obj.speed, 3), "z": round(z, 3),
            "band": b, "source": obj.source}  # fmt: skip
    return text, data


def _flow_evidence(
    model: AnomalyModel, feats: FrameFeatures, z: float, sx: float, sy: float
) -> tuple[str, dict[str, Any]]:
    h = model.params.flow_window / 2
    x, y = feats.flow_peak_at
    box = _scale_box((x - h, y - h, x + h, y + h), sx, sy)
    text = (
        f"optical-flow speed in region {box}: {feats.flow_peak:.1f} px/frame, {z:.1f} sigma "
        f"above the normal frame maximum ({model.cue_mean[2]:.1f} px/frame)"
    )
    return text, {"feature": "flow_speed", "box": box, "speed": round(feats.flow_peak, 3),
                  "z": round(z, 3)}  # fmt: skip


def _energy_evidence(
    model: AnomalyModel, feats: FrameFeatures, z: float, sx: float, sy: float
) -> tuple[str, dict[str, Any]]:
    cell = model.params.cell
    r, c = (int(v) for v in np.unravel_index(int(np.argmax(feats.cells)), feats.cells.shape))
    box = _scale_box((c * cell, r * cell, (c + 1) * cell, (r + 1) * cell), sx, sy)
    text = (
        f"motion energy in region {box}: {float(feats.cells[r, c]):.1f} grey levels/frame, "
        f"{z:.1f} sigma above the normal frame maximum"
    )
    return text, {"feature": "motion_energy", "box": box, "z": round(z, 3)}


def explain(model: AnomalyModel, feats: FrameFeatures, shape: tuple[int, int]) -> AnomalyEvidence:
    """Name the object or region that contributes most to the frame's score, and by how much.

    Args:
        model: The model that scored the frame.
        feats: The frame's features.
        shape: ``(height, width)`` of the original frame; boxes are reported in its pixels.
    """
    sx, sy = shape[1] / model.params.width, shape[0] / model.params.height
    cues = model.cues(feats)
    parts = {"energy": cues[0] * model.weights[0], "flow": cues[5] * model.weights[5]}
    if feats.objects:
        parts["object"] = cues[1] * model.weights[1]
    main = max(parts, key=lambda k: parts[k])
    if main == "object":
        text, data = _object_evidence(model, feats, sx, sy)
    elif main == "flow":
        text, data = _flow_evidence(model, feats, float(cues[5]), sx, sy)
    else:
        text, data = _energy_evidence(model, feats, float(cues[0]), sx, sy)
    return AnomalyEvidence(text, {**data, "objects": len(feats.objects)})


def heatmap(model: AnomalyModel, feats: FrameFeatures, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` float32 map in [0, 1] at the frame's size: cell energy z and object speed z."""
    p = model.params
    cell_z = (feats.cells - model.cue_mean[0]) / model.cue_std[0]
    grid: np.ndarray = cv2.resize(np.clip(cell_z, 0, None).astype(np.float32), (p.width, p.height),
                      interpolation=cv2.INTER_NEAREST)  # fmt: skip
    grid = np.pad(grid, ((0, p.height - grid.shape[0]), (0, p.width - grid.shape[1])))
    for obj in feats.objects:
        x1, y1, x2, y2 = (int(v) for v in obj.box)
        region = grid[y1:y2, x1:x2]
        np.maximum(region, max(model.object_z(obj), 0.0), out=region)
    heat = np.clip(grid / HEAT_FULL_SCALE, 0, 1).astype(np.float32)
    if heat.shape != shape:
        return np.asarray(cv2.resize(heat, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR))
    return heat


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``(H, W, 3)`` uint8 image with the heatmap blended over it as a colour map."""
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1 - alpha, colour, alpha, 0)
