"""The per-frame composition of stages: detect -> track -> rules (+ anomaly).

``Pipeline.step_batch`` is the one body every driver calls: the batch driver feeds it every frame
of a file, the live driver feeds it what survives its bounded queues. It knows nothing of files,
threads or SQLite. Rules and the anomaly stage are per camera (merged camera config); cameras
that are not configured (batch inputs) use the global ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from monitor.config import AnomalyConfig, MonitorConfig
from monitor.detectors import Detector
from monitor.gating import Gate, build_gate
from monitor.rules import RuleEngine
from monitor.tracking import Tracker
from monitor.types import Alert, AnomalyScore, Detections, Frame


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

    Args:
        detector: Batched detector (any backend).
        tracker: Multi-object tracker, or None to skip tracking.
        rules: Rules of cameras without their own.
        anomaly: Anomaly stage of cameras without their own, or None.
        camera_rules: Camera id -> its merged rules.
        camera_anomaly: Camera id -> its anomaly stage (None turns it off for that camera).
    """

    def __init__(
        self,
        detector: Detector,
        tracker: Tracker | None,
        rules: RuleEngine,
        anomaly: AnomalyLike | None = None,
        camera_rules: dict[str, RuleEngine] | None = None,
        camera_anomaly: dict[str, AnomalyLike | None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.detector = detector
        self.tracker = tracker
        self.rules = rules
        self.anomaly = anomaly
        self.camera_rules = dict(camera_rules or {})
        self.camera_anomaly = dict(camera_anomaly or {})
        self.gate = gate  # motion gating / region detection / detect-every-k (monitor.gating)

    @classmethod
    def from_config(cls, cfg: MonitorConfig, anomaly: AnomalyLike | None = None) -> Pipeline:
        """Build the detector backend, tracker, rules and anomaly stages a config describes.

        ``anomaly`` overrides the global anomaly stage (otherwise loaded when enabled).
        """
        from monitor.detectors import create_detector

        # The tracker's second association needs the low-score boxes NMS would otherwise drop.
        low = min(cfg.model.conf, cfg.tracker.track_low_thresh)
        detector = create_detector(cfg.model.model_copy(update={"conf": low}))
        tracker = Tracker(cfg.tracker, min_conf=cfg.model.conf)
        if anomaly is None and cfg.anomaly.enabled:
            anomaly = _load_anomaly(cfg.anomaly)
        known = set(getattr(detector, "class_names", {}).values())
        model = Path(str(getattr(detector, "weights", cfg.model.backend))).name
        if known:
            cfg.rules.check_classes(known, "rules", model)
        camera_rules, camera_anomaly = {}, {}
        for cam in cfg.cameras:
            merged = cfg.camera(cam.id)
            assert merged is not None
            if known:
                merged.rules.check_classes(known, f"cameras.{cam.id}.rules", model)
            camera_rules[cam.id] = RuleEngine(merged.rules)
            if merged.anomaly == cfg.anomaly:
                camera_anomaly[cam.id] = anomaly
            else:
                camera_anomaly[cam.id] = (
                    _load_anomaly(merged.anomaly) if merged.anomaly.enabled else None
                )
        rules = RuleEngine(cfg.rules)
        gate = build_gate(cfg.performance, detector, tracker)
        return cls(detector, tracker, rules, anomaly, camera_rules, camera_anomaly, gate)

    def rules_for(self, camera_id: str) -> RuleEngine:
        """The rule engine of one camera."""
        return self.camera_rules.get(camera_id, self.rules)

    def anomaly_for(self, camera_id: str) -> AnomalyLike | None:
        """The anomaly stage of one camera, None when it has none."""
        return self.camera_anomaly.get(camera_id, self.anomaly)

    def step_batch(self, frames: Sequence[Frame]) -> list[FrameResult]:
        """Detect on the whole batch at once, then track and apply rules frame by frame in order."""
        t0 = time.perf_counter()
        batch_dets = self.gate.detect(frames) if self.gate else self.detector.detect(frames)
        detect_ms = (time.perf_counter() - t0) * 1000 / max(len(frames), 1)
        results = []
        for frame, dets in zip(frames, batch_dets):
            t1 = time.perf_counter()
            dets = self._track(frame, dets)
            t2 = time.perf_counter()
            alerts = self.rules_for(frame.camera_id).evaluate(frame, dets)
            score = None
            anomaly = self.anomaly_for(frame.camera_id)
            if anomaly is not None:
                score = anomaly.score(frame, dets)
                alerts += anomaly.alerts(frame, score)
            t3 = time.perf_counter()
            timings = {"detect": detect_ms, "track": (t2 - t1) * 1e3, "rules": (t3 - t2) * 1e3}
            results.append(FrameResult(frame, dets, tuple(alerts), score, timings))
        return results

    def _track(self, frame: Frame, dets: Detections | None) -> Detections:
        """Tracker update, or Kalman prediction alone where the gate skipped detection (None)."""
        if self.tracker is None:
            return dets if dets is not None else Detections.empty()
        if dets is None:
            return self.tracker.predict(frame, self.gate.class_names if self.gate else None)
        return self.tracker.update(frame, dets)

    def step(self, frame: Frame) -> FrameResult:
        """One frame through every stage."""
        return self.step_batch([frame])[0]

    def reset(self, camera_id: str) -> None:
        """Forget a camera's state in every stage (a new file, a reconnected camera)."""
        if self.tracker is not None:
            self.tracker.reset(camera_id)
        if self.gate is not None:
            self.gate.reset(camera_id)
        self.rules_for(camera_id).reset(camera_id)
        anomaly = self.anomaly_for(camera_id)
        if anomaly is not None:
            anomaly.reset(camera_id)


def _load_anomaly(cfg: AnomalyConfig) -> AnomalyLike:
    from monitor.anomaly import load_stage

    return load_stage(cfg)
