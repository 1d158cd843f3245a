"""Anomaly model on real UCSD Ped2 footage: learning normal, calibration, alerts, errors, AUC guard.

Trains once per session on four normal-only Train clips (about 600 frames) and scores Test clips
that contain both normal and anomalous frames, so the whole file runs in about a minute on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from monitor.anomaly import (
    AnomalyModel,
    AnomalyModelError,
    AnomalyStage,
    load_model,
    load_stage,
    smooth_causal,
)
from monitor.config import AnomalyConfig
from monitor.types import Detections, Frame
from training.anomaly_eval import frame_difference_scores, load_ped2
from training.anomaly_fit import (
    calibrate_threshold,
    count_alerts,
    extract,
    fine_tune,
    fit_normal,
    raw_scores,
)
from training.anomaly_footage import FootageError, read_clips, register_model

cv2.setNumThreads(1)
TRAIN_CLIPS = (1, 2, 3, 4)
HELD_OUT_CLIPS = (13, 14, 15, 16)  # normal Train clips the model never saw
TEST_CLIPS = (1, 6, 12)  # each has normal and anomalous frames; 6 and 12 are the hardest


@pytest.fixture(scope="session")
def ped2(ped2_dir: Path):
    """The Ped2 subset the tests use (skips only when the data folder is absent)."""
    if not ped2_dir.is_dir():
        pytest.skip(f"UCSD Ped2 not found: {ped2_dir}")
    return load_ped2(ped2_dir, train_clips=TRAIN_CLIPS, test_clips=TEST_CLIPS)


@pytest.fixture(scope="session")
def trained(ped2):
    """A model fitted on normal-only Train clips, their features, and raw scores of the Test subset."""
    model, feats = fit_normal([c.frames for c in ped2.train], fps=10.0, meta={"version": "test-v1"})
    scores = [
        raw_scores(model, extract(model.background, model.params, c.frames)) for c in ped2.test
    ]
    return model, feats, scores


def test_normal_only_model_scores_anomalous_frames_higher(ped2, trained) -> None:
    model, _, scores = trained
    for clip, s, y in zip(ped2.test, scores, ped2.labels, strict=True):
        s = gaussian_filter1d(s, model.sigma)
        assert s[y == 1].mean() > s[y == 0].mean() + 1.0, clip.name


def test_auc_regression_guard_beats_frame_difference(ped2, trained) -> None:
    """Pooled frame AUC on the subset: measured 0.968 (frame-difference baseline: 0.884)."""
    model, _, scores = trained
    y = np.concatenate(ped2.labels)
    auc = roc_auc_score(y, np.concatenate([gaussian_filter1d(s, model.sigma) for s in scores]))
    causal = roc_auc_score(y, np.concatenate([smooth_causal(s, model.sigma) for s in scores]))
    base = [gaussian_filter1d(frame_difference_scores(c), model.sigma) for c in ped2.test]
    base_auc = roc_auc_score(y, np.concatenate(base))
    assert auc >= 0.95
    assert causal >= 0.93
    assert auc > base_auc + 0.03


def test_threshold_meets_false_alert_target_on_held_out_normal(ped2_dir: Path, trained) -> None:
    """Calibrate on the training clips, count alerts on normal clips calibration never saw."""
    model, train_feats, _ = trained
    target, cooldown = 60.0, 3.0
    cal = [smooth_causal(raw_scores(model, f), model.sigma) for f in train_feats]
    model = model.with_threshold(calibrate_threshold(cal, model.fps, target, cooldown))
    held = load_ped2(ped2_dir, train_clips=HELD_OUT_CLIPS, test_clips=(1,))
    smoothed = [smooth_causal(raw_scores(model, extract(model.background, model.params, c.frames)),
                              model.sigma) for c in held.train]  # fmt: skip
    hours = sum(len(s) for s in smoothed) / model.fps / 3600
    alerts = sum(count_alerts(s, model.threshold, model.fps, cooldown) for s in smoothed)
    assert alerts / hours <= target
    # The threshold is not so high that it never fires: the bike clip (Test 01) alerts.
    bike = held.test[0].frames
    s = smooth_causal(raw_scores(model, extract(model.background, model.params, bike)), model.sigma)
    assert count_alerts(s, model.threshold, model.fps, cooldown) >= 1
    assert model.normalise(model.threshold) == pytest.approx(0.5)


def _run_stage(stage: AnomalyStage, clip, camera: str = "ped2-test01") -> tuple[list, list]:
    alerts, scores = [], []
    for i, img in enumerate(clip.frames):
        frame = Frame(camera, i, i / 10.0, img)
        score = stage.score(frame)
        scores.append(score)
        alerts += stage.alerts(frame, score)
    return alerts, scores


def test_anomaly_alert_has_explanation_heatmap_and_is_stored(ped2, trained, tmp_path) -> None:
    from monitor.store import Store, StoreReader

    model, _, _ = trained
    stage = AnomalyStage(model, AnomalyConfig(enabled=True, cooldown_s=5.0))
    alerts, scores = _run_stage(stage, ped2.test[0])
    assert alerts, "the bike in Test clip 01 raised no anomaly alert"
    first = alerts[0]
    assert ped2.labels[0][first.frame_index] == 1  # it fires on an anomalous frame
    assert first.kind == "anomaly" and 0.5 <= first.score <= 1.0
    assert "sigma above" in first.explanation
    assert first.data["feature"] in ("speed", "flow_speed", "motion_energy")
    # explanation and heatmap are computed on flagged frames only; the stage writes no file
    assert all(0.0 <= s.score <= 1.0 for s in scores)
    assert all((s.heatmap is not None) == s.flagged for s in scores)
    flagged = scores[first.frame_index]
    assert flagged.heatmap is not None and flagged.heatmap.shape == ped2.test[0].frames[0].shape[:2]
    assert not any(tmp_path.iterdir())
    # one episode, one deterministic id: a second pass gives the same ids
    again, _ = _run_stage(AnomalyStage(model, AnomalyConfig(enabled=True, cooldown_s=5.0)),
                          ped2.test[0])  # fmt: skip
    assert [a.id for a in again] == [a.id for a in alerts]
    assert len({a.id for a in alerts}) < len(alerts)  # flags within the cooldown extend an episode
    store = Store(tmp_path / "m.db")
    store.write_alerts(alerts)
    store.close()
    rows = StoreReader(tmp_path / "m.db").alerts(kind="anomaly")
    assert sorted(r.id for r in rows) == sorted({a.id for a in alerts})
    row = next(r for r in rows if r.id == first.id)
    assert row.explanation == first.explanation and row.data["feature"]
    assert row.end_time >= row.start_time


def test_stage_keeps_cameras_apart_and_uses_detector_boxes(ped2, trained) -> None:
    model, _, _ = trained
    stage = AnomalyStage(model, AnomalyConfig(enabled=True))
    img = ped2.test[0].frames
    dets = Detections(np.array([[100, 100, 140, 160]]), np.array([0.9]), np.array([0]),
                      class_names={0: "person"})  # fmt: skip
    stage.score(Frame("a", 0, 0.0, img[0]))
    stage.score(Frame("b", 0, 0.0, img[50]))
    s = stage.score(Frame("a", 1, 0.1, img[1]), dets)
    assert s.data["objects"] >= 1
    ext = model.extractor()
    ext.step(img[0])
    feats = ext.step(img[1], dets)
    assert any(o.source == "detector" and o.label == "person" for o in feats.objects)


def test_model_file_round_trip_and_registry(trained, tmp_path) -> None:
    model, _, _ = trained
    path = model.save(tmp_path / "m" / "cam-anomaly-v1.npz")
    loaded = AnomalyModel.load(path)
    assert loaded.threshold == model.threshold and loaded.scale == model.scale
    np.testing.assert_allclose(loaded.band_mean, model.band_mean)
    register_model(tmp_path / "m", path, "cam-anomaly-v1", "fp", {"a": 1}, {"auc": 0.9})
    again = load_model(None, tmp_path / "m")
    assert again.threshold == model.threshold
    cfg = AnomalyConfig(enabled=True, model="cam-anomaly-v1")
    assert load_stage(cfg, models_dir=tmp_path / "m").model.threshold == model.threshold
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(AnomalyModelError, match="bad.npz"):
        AnomalyModel.load(tmp_path / "bad.npz")


def test_supervised_fine_tuning_learns_from_labels(ped2, trained) -> None:
    model, _, _ = trained
    feats = [extract(model.background, model.params, c.frames) for c in ped2.test]
    tuned = fine_tune(model, [(feats[0], ped2.labels[0])], [feats[0][:10]])
    assert not np.allclose(tuned.weights, model.weights)
    s = gaussian_filter1d(raw_scores(tuned, feats[1]), model.sigma)
    assert roc_auc_score(ped2.labels[1], s) > 0.9


@pytest.mark.parametrize("content", ["empty", "corrupt"])
def test_bad_footage_folder_is_named_in_the_error(tmp_path: Path, content: str) -> None:
    folder = tmp_path / f"footage-{content}"
    folder.mkdir()
    if content == "corrupt":
        (folder / "000.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(FootageError, match=f"footage-{content}"):
        read_clips(folder)
    from cli.main import app

    res = CliRunner().invoke(app, ["train-anomaly", "--camera", "c", "--footage", str(folder),
                                   "--out", str(tmp_path / "m.npz"), "--no-register"])  # fmt: skip
    assert res.exit_code != 0
    assert f"footage-{content}" in res.output


@pytest.mark.slow
def test_full_ped2_pooled_auc_meets_the_issue_floor(ped2_dir: Path) -> None:
    """Issue #6 asks for >= 96 pooled on the whole Test set; measured 97.8 centred, 96.6 causal."""
    from training.anomaly_eval import evaluate_ped2

    data = load_ped2(ped2_dir)
    model, _ = fit_normal([c.frames for c in data.train], fps=10.0)
    result = evaluate_ped2(data, model, supervised=False)
    assert result["auc"] >= 0.96
    assert result["auc_causal"] >= 0.95
    assert result["auc"] > result["baseline_frame_difference"]["auc"] + 0.02


def test_train_anomaly_cli_saves_and_registers(ped2_dir: Path, tmp_path: Path) -> None:
    from cli.main import app
    from monitor.registry import ModelRegistry

    clip = ped2_dir / "training" / "frames" / "01"
    args = ["train-anomaly", "--camera", "cam1", "--footage", str(clip), "--fps", "10",
            "--models-dir", str(tmp_path), "--target-alerts-per-hour", "30"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    mv = ModelRegistry(tmp_path).promoted("anomaly")
    assert mv is not None and mv.version == "cam1-anomaly-v1" and mv.data_fingerprint
    model = AnomalyModel.load(ModelRegistry(tmp_path).resolve_path(mv))
    assert model.meta["camera"] == "cam1"
    assert model.meta["calibration"]["target_alerts_per_hour"] == 30
