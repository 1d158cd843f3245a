"""Multi-object tracking per camera with ultralytics' ByteTrack or BoT-SORT.

Returns the frame's detections with ``tracker_id`` filled in (-1 where no confirmed track owns the
box) and keeps a ``Track`` summary per id for dwell times and the dashboard.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field

from monitor.detectors.onnx import nms
from monitor.runtime import configure_offline
from monitor.schema import ConfigBase
from monitor.types import Detections, Frame, Track

UNTRACKED = -1
SUMMARY_TTL_S = 600.0  # summaries of tracks unseen this long are dropped (live cameras run forever)


class TrackerConfig(ConfigBase):
    """ultralytics tracker (ByteTrack or BoT-SORT) and its association thresholds."""

    type: Literal["botsort", "bytetrack"] = Field(
        "botsort", description="Tracker algorithm (BoT-SORT keeps ids through crossings better)."
    )
    track_high_thresh: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Score a box needs for the first association (ultralytics: 0.25). 0.4: "
        "a second, weaker box on a tracked person can only join a track in the low-score "
        "association. PETS person IDF1 with the default detector at 480: 0.813 (v9 at 416 "
        "with 0.25: 0.776).",
    )
    track_low_thresh: float = Field(0.1, ge=0, le=1, description="Second association threshold.")
    new_track_thresh: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Score a box needs to start a new track. 0.5 (ultralytics: 0.25): a spare "
        "low-score box on a tracked person no longer starts a second id (PETS: 31 ids for 19 "
        "people instead of 47); someone never scored this high is never tracked, so lower it "
        "with the rules' min_score on a camera whose people score lower.",
    )
    track_buffer: int = Field(30, ge=1, description="Frames a lost track is kept.")
    match_thresh: float = Field(0.8, ge=0, le=1, description="IoU matching threshold.")
    fuse_score: bool = Field(True, description="Fuse confidence with IoU when matching.")
    nms_iou: float | None = Field(
        None,
        gt=0,
        le=1,
        description="A box overlapping a higher-scoring box of its class by more than this IoU is "
        "not tracked, so a duplicate box does not start a second id (the detector's NMS, "
        "model.iou 0.7, keeps both). Fewer ids on PETS, but it also drops one of two people "
        "walking close together: null (off) by default.",
    )
    camera_motion: Literal["none", "sparseOptFlow", "orb", "sift", "ecc"] = Field(
        "none",
        description="BoT-SORT's global motion compensation: 'none' for fixed cameras (it found "
        "no motion there and cost 6-13 ms/frame); sparseOptFlow for moving/PTZ cameras.",
    )


def _tracker_args(cfg: TrackerConfig) -> Any:
    from ultralytics.utils import IterableSimpleNamespace

    args = cfg.model_dump()
    args["tracker_type"] = args.pop("type")
    args.pop("nms_iou")
    gmc = args.pop("camera_motion")
    if cfg.type == "botsort":
        # BoT-SORT without ReID: appearance needs a second model we do not ship.
        args.update(
            gmc_method=gmc,
            proximity_thresh=0.5,
            appearance_thresh=0.8,
            with_reid=False,
            model="auto",
        )
    return IterableSimpleNamespace(**args)


def _import_trackers() -> None:
    configure_offline()  # before ultralytics' first import: offline, no settings sync
    import ultralytics.engine.results  # noqa: F401
    import ultralytics.trackers.bot_sort  # noqa: F401


_preload_lock = threading.Lock()
_preloading = False


def preload_trackers() -> None:
    """Start importing ultralytics' trackers (torch, ~1.5 s) on a thread, once per process.

    Commands call it first thing, so the import overlaps config, input scanning and the
    detector's compile instead of stalling the first ``update()``.
    """
    global _preloading
    with _preload_lock:
        if _preloading or "ultralytics.trackers.bot_sort" in sys.modules:
            return
        _preloading = True
    threading.Thread(target=_import_trackers, name="import-trackers", daemon=True).start()


def _new_tracker(cfg: TrackerConfig) -> Any:
    configure_offline()
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.trackers.byte_tracker import BYTETracker

    cls = BOTSORT if cfg.type == "botsort" else BYTETracker
    return cls(args=_tracker_args(cfg))


class Tracker:
    """Assigns stable track ids per camera.

    Feed it detections down to ``cfg.track_low_thresh``; boxes under ``min_conf`` (the model's
    output threshold) are kept only when a track claims them, as ultralytics' ``track()`` does.

    Example:
        >>> import numpy as np
        >>> tracker = Tracker(TrackerConfig())
        >>> frame = Frame("cam", 0, 0.0, np.zeros((100, 100, 3), np.uint8))
        >>> dets = Detections(np.array([[10, 10, 30, 60]]), np.array([0.9]), np.array([0]))
        >>> tracker.update(frame, dets).tracker_id.tolist()
        [1]
    """

    def __init__(self, cfg: TrackerConfig, min_conf: float = 0.0) -> None:
        preload_trackers()  # if the command did not already
        self.cfg = cfg
        self.min_conf = min_conf
        self._trackers: dict[str, Any] = {}
        self._tracks: dict[str, dict[int, Track]] = {}

    def update(self, frame: Frame, detections: Detections) -> Detections:
        """Associate this frame's detections with the camera's tracks."""
        from ultralytics.engine.results import Boxes

        cam = frame.camera_id
        if cam not in self._trackers:
            self._trackers[cam] = _new_tracker(self.cfg)
        if self.cfg.nms_iou is not None and len(detections) > 1:
            kept = nms(
                detections.xyxy, detections.confidence, detections.class_id, self.cfg.nms_iou
            )
            detections = detections[np.sort(kept)]  # per class, as the detectors' own NMS
        data = np.concatenate(
            [detections.xyxy, detections.confidence[:, None], detections.class_id[:, None]], axis=1
        ).astype(np.float32)
        out = self._trackers[cam].update(Boxes(data, frame.shape), frame.image)
        ids = np.full(len(detections), UNTRACKED, dtype=np.int64)
        if len(out):
            ids[out[:, -1].astype(int)] = out[:, 4].astype(np.int64)
        tracked = detections.with_tracker_ids(ids)
        # ByteTrack wants low-score boxes to bridge occlusions; only those it matched stay.
        tracked = tracked[(tracked.confidence >= self.min_conf) | (ids != UNTRACKED)]
        self._summarise(cam, frame.timestamp, tracked)
        return tracked

    def _summarise(self, cam: str, t: float, dets: Detections) -> None:
        tracks = self._tracks.setdefault(cam, {})
        assert dets.tracker_id is not None
        for i, tid in enumerate(dets.tracker_id):
            if tid == UNTRACKED:
                continue
            x1, y1, x2, y2 = (float(v) for v in dets.xyxy[i])
            box = (x1, y1, x2, y2)
            prev = tracks.get(int(tid))
            if prev is None:
                tracks[int(tid)] = Track(int(tid), cam, dets.names[i], t, t, box)
            else:
                tracks[int(tid)] = replace(prev, last_seen=t, last_box=box, hits=prev.hits + 1)
        for tid in [k for k, v in tracks.items() if t - v.last_seen > SUMMARY_TTL_S]:
            del tracks[tid]

    def tracks(self, camera_id: str) -> dict[int, Track]:
        """Summaries of every track seen on a camera, by id."""
        return dict(self._tracks.get(camera_id, {}))

    def reset(self, camera_id: str | None = None) -> None:
        """Forget the state of one camera (or all), e.g. at the start of a new video."""
        cams = [camera_id] if camera_id is not None else list(self._trackers)
        for cam in cams:
            self._trackers.pop(cam, None)
            self._tracks.pop(cam, None)

    # Hooks for detect-every-k and motion gating (monitor.gating): prediction without detections.
    def live_tracks(self, camera_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Confirmed tracks' current boxes ``(N, 4)`` and centre speeds ``(N,)`` in px per frame."""
        trk = self._trackers.get(camera_id)
        live = [t for t in trk.tracked_stracks if t.is_activated] if trk is not None else []
        if not live:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes = np.stack([t.xyxy for t in live]).astype(np.float32)
        speed = np.array([np.hypot(*t.mean[4:6]) for t in live], np.float32)
        return boxes, speed

    def predict(self, frame: Frame, class_names: dict[int, str] | None = None) -> Detections:
        """Advance the camera's tracks one frame by Kalman prediction alone (frame not detected).

        Returns the confirmed tracks' predicted boxes with their ids, so rules keep running.
        """
        cam = frame.camera_id
        trk = self._trackers.get(cam)
        empty = Detections.empty(class_names).with_tracker_ids(np.zeros(0, np.int64))
        if trk is None:
            return empty
        trk.frame_id += 1  # lost-track ageing counts real frames, as with update()
        live = [t for t in trk.tracked_stracks if t.is_activated]
        trk.multi_predict(live + list(trk.lost_stracks))
        if not live:
            return empty
        dets = Detections(
            np.stack([t.xyxy for t in live]),
            np.array([t.score for t in live], np.float32),
            np.array([int(t.cls) for t in live], np.int64),
            np.array([t.track_id for t in live], np.int64),
            class_names or {},
        )
        self._summarise(cam, frame.timestamp, dets)
        return dets
