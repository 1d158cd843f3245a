"""Annotation-style calibration of teacher boxes against a video's human labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluation import box_iou
from training.label_style import apply_style, fit_style
from training.labels import Box, read_mot


def test_offsets_hand_computed() -> None:
    # Teacher boxes 100 x 200; the human boxes are 10 px narrower each side and 20 px lower.
    teacher = {("cam", f): [Box(0, 100 + f, 50, 200 + f, 250)] for f in range(1, 21)}
    human = {"cam": {f: [Box(0, 110 + f, 70, 190 + f, 270)] for f in range(1, 21)}}
    [(key, style)] = fit_style(teacher, human, min_pairs=20).items()
    assert key == ("cam", 0) and style.pairs == 20
    np.testing.assert_allclose(style.offsets, (0.1, 0.1, -0.1, 0.1), atol=1e-9)
    assert (
        style.iou_before == pytest.approx(80 * 180 / (100 * 200 + 80 * 200 - 80 * 180), abs=1e-4)
        and style.iou_after == 1.0
    )
    shifted = apply_style({("cam", 99): [Box(0, 0, 0, 50, 100)], ("other", 1): [Box(0, 0, 0, 50, 100)]},
                          {key: style})  # fmt: skip
    assert shifted[("cam", 99)] == [Box(0, 5, 10, 45, 110)]
    assert shifted[("other", 1)] == [Box(0, 0, 0, 50, 100)]  # no human labels there: unchanged


def test_too_few_pairs_fit_nothing() -> None:
    teacher = {("cam", 1): [Box(0, 0, 0, 10, 10)]}
    assert fit_style(teacher, {"cam": {1: [Box(0, 1, 1, 9, 9)]}}) == {}


def test_acf_boxes_move_to_the_gt_style_on_frames_never_fitted(pets_dir: Path) -> None:
    """Fitted on PETS gt 1-30, ACF boxes of gt 41-60 get closer to their ground truth."""
    det = read_mot(pets_dir / "det" / "det.txt", min_score=0.5)
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    teacher = {("pets", f): det.get(f, []) for f in range(1, 61)}
    styles = fit_style(teacher, {"pets": {f: gt[f] for f in range(1, 31)}})
    style = styles[("pets", 0)]
    assert style.offsets[0] > 0.05 and style.offsets[2] < -0.02  # ACF boxes are too wide
    shifted = apply_style(teacher, styles)

    def mean_iou(labels: dict) -> float:
        vals = []
        for f in range(41, 61):
            a = np.array([[b.x1, b.y1, b.x2, b.y2] for b in labels[("pets", f)]])
            g = np.array([[b.x1, b.y1, b.x2, b.y2] for b in gt[f]])
            iou = box_iou(g, a).max(axis=1)
            vals += list(iou[iou >= 0.5])
        return float(np.mean(vals))

    assert mean_iou(shifted) > mean_iou(teacher) + 0.02
