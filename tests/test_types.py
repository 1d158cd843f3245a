"""Core types: shape checks, indexing and masks behave like supervision's Detections."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.types import Alert, Detections, Frame


def _dets() -> Detections:
    return Detections(
        np.array([[0, 0, 10, 20], [5, 5, 15, 25], [30, 30, 40, 60]]),
        np.array([0.9, 0.4, 0.7]),
        np.array([0, 1, 0]),
        np.array([3, 4, 5]),
        {0: "person", 1: "car"},
    )


def test_indexing_by_mask_slice_list_and_int() -> None:
    d = _dets()
    assert len(d[d.confidence > 0.5]) == 2
    assert d[1:].tracker_id.tolist() == [4, 5]
    assert d[[2, 0]].names == ["person", "person"]
    assert d[1].names == ["car"]
    assert d.class_mask(["car"]).tolist() == [False, True, False]
    assert d.class_mask(None).all()


def test_anchor_is_bottom_centre() -> None:
    assert _dets().anchors[0].tolist() == [5.0, 20.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"xyxy": np.zeros((2, 3)), "confidence": np.zeros(2), "class_id": np.zeros(2)},
        {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(3), "class_id": np.zeros(2)},
        {"xyxy": np.zeros((2, 4)), "confidence": np.zeros(2), "class_id": np.zeros(1)},
    ],
)
def test_bad_shapes_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Detections(**kwargs)


def test_empty_and_frame_checks() -> None:
    assert len(Detections.empty()) == 0
    with pytest.raises(ValueError):
        Frame("c", 0, 0.0, np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="severity"):
        Alert("c", "zone", "r", "urgent", 0.0, 0.0, 0)
