"""The per-frame composition of stages: detect -> track -> rules (+ anomaly).

``Pipeline.step_batch`` is the one body every driver calls: the batch driver feeds it every frame
of a file, a live driver feeds it what survives its bounded queues. It knows nothing of files,
threads or SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monitor.config import MonitorConfig
from monitor.rules import RuleEngine
from monitor.tracking import Tracker
from monitor.types import Alert, AnomalyScore, Detections, Frame


class DetectorLike(Protocol):
    """Anything that detects objects in a batch of frames."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


class AnomalyLike(Protocol):
    """A per-camera anomaly stage: score a frame, then turn scores into alerts."""

    def score(self, frame: Frame, detections: Detections | None = None) -> AnomalyScore: ...

    def alerts(self, frame: Frame, score: AnomalyScore) -> list[Alert]: ...

    def reset(self, camera_id: str) -> None: ...


@dataclass(frozen=True)
class FrameResult:
    """Everything the stages concluded about one frame."""

    frame: Frame
    detections: Detections
    alerts: tuple[Alert, ...] = ()
    anomaly: AnomalyScore | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """Stages wired together; per-camera state lives in the stages, keyed by ``camera_id``.

    Example:
        >>> pipe = Pipeline.from_config(MonitorConfig())  # doctest: +SKIP
        >>> results = pipe.step_batch(frames)  # doctest: +SKIP
    """

    def __init__(
        self,
        detector: DetectorLike,
        tracker: Tracker | None,
        rules: RuleEngine,
        anomaly: AnomalyLike | None = None,
    ) -> None:
        self.detector = detector
        self.tracker = tracker
        self.rules = rules
        self.anomaly = anomaly

    @classmethod
    def from_config(cls, cfg: MonitorConfig, anomaly: AnomalyLike | None = None) -> Pipeline:
        """Build the detector, tracker and rules a config describes."""
        from monitor.detector import Detector

        # The tracker's second association needs the low-score boxes NMS would otherwise drop.
        low = min(cfg.model.conf, cfg.tracker.track_low_thresh)
        detector = Detector(cfg.model.model_copy(update={"conf": low}))
        tracker = Tracker(cfg.tracker, min_conf=cfg.model.conf)
        return cls(detector, tracker, RuleEngine(cfg.rules), anomaly)

    def step_batch(self, frames: Sequence[Frame]) -> list[FrameResult]:
        """Detect on the whole batch at once, then track and apply rules frame by frame in order."""
        t0 = time.perf_counter()
        batch_dets = self.detector.detect(frames)
        detect_ms = (time.perf_counter() - t0) * 1000 / max(len(frames), 1)
        results = []
        for frame, dets in zip(frames, batch_dets):
            t1 = time.perf_counter()
            if self.tracker is not None:
                dets = self.tracker.update(frame, dets)
            t2 = time.perf_counter()
            alerts = self.rules.evaluate(frame, dets)
            score = None
            if self.anomaly is not None:
                score = self.anomaly.score(frame, dets)
                alerts += self.anomaly.alerts(frame, score)
            t3 = time.perf_counter()
            timings = {"detect": detect_ms, "track": (t2 - t1) * 1e3, "rules": (t3 - t2) * 1e3}
            results.append(FrameResult(frame, dets, tuple(alerts), score, timings))
        return results

    def step(self, frame: Frame) -> FrameResult:
        """One frame through every stage."""
        return self.step_batch([frame])[0]

    def reset(self, camera_id: str) -> None:
        """Forget a camera's state in every stage (a new file, a reconnected camera)."""
        if self.tracker is not None:
            self.tracker.reset(camera_id)
        self.rules.reset(camera_id)
        if self.anomaly is not None:
            self.anomaly.reset(camera_id)
