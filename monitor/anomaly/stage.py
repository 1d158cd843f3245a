"""The per-camera anomaly stage the pipeline runs: score frames, turn flagged ones into alerts.

No file I/O here: a flagged frame's ``AnomalyScore`` carries its explanation and heatmap array,
and the output sink writes the evidence. Alerts are episodes with deterministic ids, like rule
alerts, so re-processing a clip updates its rows instead of adding new ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from monitor.anomaly.explain import explain, heatmap
from monitor.anomaly.model import AnomalyModel, causal_weights, load_model
from monitor.config import AnomalyConfig
from monitor.rules.base import alert_id
from monitor.types import Alert, AnomalyScore, Detections, Frame


@dataclass
class _CameraState:
    history: deque[float]
    extractor: object
    episode: Alert | None = None
    last_trigger: float = -np.inf


class AnomalyStage:
    """Per-camera anomaly scoring and alerting for the pipeline.

    ``score`` extracts features, smooths causally and normalises; only a flagged frame gets an
    explanation and a heatmap. ``alerts`` turns flagged scores into ``Alert(kind="anomaly")``
    episodes: flags within ``cooldown_s`` of the last one extend the open alert.

    Example:
        >>> stage = AnomalyStage(load_model("ucsd-ped2-anomaly-v1"), AnomalyConfig(enabled=True))
        >>> stage.score(Frame("cam", 0, 0.0, np.zeros((240, 360, 3), np.uint8))).flagged
        False
    """

    def __init__(self, model: AnomalyModel, cfg: AnomalyConfig) -> None:
        self.model = model if cfg.threshold is None else model.with_threshold(cfg.threshold)
        self.cfg = cfg
        self._weights = causal_weights(model.sigma if cfg.sigma is None else cfg.sigma)
        self._cams: dict[str, _CameraState] = {}

    def _state(self, camera_id: str) -> _CameraState:
        if camera_id not in self._cams:
            hist: deque[float] = deque(maxlen=len(self._weights))
            self._cams[camera_id] = _CameraState(hist, self.model.extractor())
        return self._cams[camera_id]

    def score(self, frame: Frame, detections: Detections | None = None) -> AnomalyScore:
        """Score one frame of its camera (frames of a camera must arrive in order)."""
        st = self._state(frame.camera_id)
        feats = st.extractor.step(frame.image, detections)  # type: ignore[attr-defined]
        st.history.appendleft(self.model.raw_score(feats))
        w = self._weights[: len(st.history)]
        smoothed = float(np.asarray(st.history) @ w / w.sum())
        norm = self.model.normalise(smoothed)
        data = {"raw": st.history[0], "smoothed": smoothed, "objects": len(feats.objects)}
        if norm < 0.5:
            return AnomalyScore(norm, 0.5, data=data)
        ev = explain(self.model, feats, frame.shape)
        hm = heatmap(self.model, feats, frame.shape) if self.cfg.evidence else None
        return AnomalyScore(norm, 0.5, ev.text, hm, {**data, **ev.data})

    def alerts(self, frame: Frame, score: AnomalyScore) -> list[Alert]:
        """The camera's anomaly episode started or extended by a flagged score, else none."""
        if not score.flagged:
            return []
        st = self._state(frame.camera_id)
        t = frame.timestamp
        data = {k: v for k, v in score.data.items() if isinstance(v, int | float | str | list)}
        if st.episode is not None and t - st.last_trigger <= self.cfg.cooldown_s:
            old = st.episode
            triggers = int(old.data.get("triggers", 1)) + 1
            st.episode = replace(
                old, end_time=t, score=max(old.score, score.score),
                data={**old.data, "triggers": triggers},
            )  # fmt: skip
        else:
            rule = str(self.model.meta.get("version", "anomaly"))
            st.episode = Alert(
                camera_id=frame.camera_id,
                kind="anomaly",
                rule=rule,
                severity=self.cfg.severity,
                start_time=t,
                end_time=t,
                frame_index=frame.index,
                score=score.score,
                explanation=score.explanation,
                data={**data, "triggers": 1},
                id=alert_id(frame.camera_id, rule, t, frame.index),
            )
        st.last_trigger = t
        return [st.episode]

    def reset(self, camera_id: str) -> None:
        """Forget a camera's history (new clip, reconnect)."""
        self._cams.pop(camera_id, None)


def load_stage(cfg: AnomalyConfig, models_dir: str | Path | None = None) -> AnomalyStage:
    """The stage a config asks for (``cfg.model``: ``.npz`` path, registry version or None for
    the promoted anomaly model)."""
    return AnomalyStage(load_model(cfg.model, models_dir), cfg)
