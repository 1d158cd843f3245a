"""Tracking: the real detector + ByteTrack keep one id on each walking person of PETS09."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from monitor.config import ModelConfig, TrackerConfig
from monitor.detector import Detector
from monitor.sources import FrameSource, discover_inputs
from monitor.tracking import Tracker

from .test_detector import _iou


@pytest.mark.parametrize("kind", ["bytetrack", "botsort"])
def test_track_ids_persist_for_walking_people(detector_weights: Path, pets_subset, gt_tracks, kind):
    detector = Detector(ModelConfig(weights=str(detector_weights), batch=8))
    tracker = Tracker(TrackerConfig(type=kind))
    src = FrameSource.open(discover_inputs([pets_subset])[0])
    frames = list(src.frames())[:40]
    ids_per_person: dict[int, list[int]] = {}
    for i in range(0, len(frames), 8):
        chunk = frames[i : i + 8]
        for frame, dets in zip(chunk, detector.detect(chunk)):
            tracked = tracker.update(frame, dets)
            gt = gt_tracks[frame.index][1]
            if len(tracked) == 0:
                continue
            iou = _iou(gt.xyxy, tracked.xyxy)
            for g, row in enumerate(iou):
                j = int(np.argmax(row))
                if row[j] >= 0.5 and tracked.tracker_id[j] >= 0:
                    ids_per_person.setdefault(int(gt.tracker_id[g]), []).append(
                        int(tracked.tracker_id[j])
                    )
    # People visible throughout (9, 15, 19 are in every gt frame) keep one id most of the time.
    long_lived = [p for p, ids in ids_per_person.items() if len(ids) >= 20]
    assert len(long_lived) >= 2
    for p in long_lived:
        ids = ids_per_person[p]
        top_share = Counter(ids).most_common(1)[0][1] / len(ids)
        assert top_share >= 0.8, f"person {p} ids {ids}"
    summaries = tracker.tracks("pets60")
    assert summaries and all(t.last_seen >= t.first_seen for t in summaries.values())
    tracker.reset("pets60")
    assert tracker.tracks("pets60") == {}
