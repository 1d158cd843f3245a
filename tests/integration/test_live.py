"""The live driver (bounded drop-oldest queues) and the batch driver share one Pipeline.step."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import TrackerConfig
from monitor.detectors.ultralytics import UltralyticsConfig as ModelConfig
from monitor.detectors.ultralytics import UltralyticsDetector as Detector
from monitor.pipeline import Pipeline
from monitor.rules import RuleEngine, RulesConfig, ZoneRule
from monitor.sources import FrameSource, discover_inputs
from monitor.tracking import Tracker
from pipelines.live import LiveRunner

ZONE = ZoneRule(name="door", polygon=[(380, 200), (460, 200), (460, 300), (380, 300)], cooldown_s=0)


@pytest.fixture(scope="module")
def detector(detector_weights: Path) -> Detector:
    return Detector(ModelConfig(weights=str(detector_weights)))


def _pipeline(detector: Detector) -> Pipeline:
    return Pipeline(detector, Tracker(TrackerConfig()), RuleEngine(RulesConfig(zones=[ZONE])))


def _frames(pets_subset: Path, n: int = 40):
    src = FrameSource.open(discover_inputs([pets_subset])[0])
    return list(src.frames())[:n]


def test_live_without_drops_gives_the_batch_alerts(detector, pets_subset) -> None:
    frames = _frames(pets_subset)
    pipe = _pipeline(detector)
    batch_alerts = {
        a.id
        for i in range(0, len(frames), 4)
        for r in pipe.step_batch(frames[i : i + 4])
        for a in r.alerts
    }
    assert batch_alerts, "the zone must fire on these frames"

    live_alerts: set[str] = set()
    runner = LiveRunner(_pipeline(detector), lambda r: live_alerts.update(a.id for a in r.alerts),
                        queue_size=len(frames), batch=4)  # fmt: skip
    stats = runner.run({"pets60": iter(frames)})
    assert stats.dropped == {"pets60": 0} and stats.processed == {"pets60": len(frames)}
    assert live_alerts == batch_alerts


def test_slow_inference_drops_oldest_and_counts(detector, pets_subset) -> None:
    frames = _frames(pets_subset)
    seen: list[int] = []
    runner = LiveRunner(
        _pipeline(detector), lambda r: seen.append(r.frame.index), queue_size=2, batch=1
    )
    stats = runner.run({"pets60": iter(frames)})
    assert stats.captured["pets60"] == len(frames)
    assert stats.dropped["pets60"] > 0
    assert stats.processed["pets60"] + stats.dropped["pets60"] == len(frames)
    assert seen == sorted(seen) and seen[-1] == len(frames) - 1  # newest frame always processed


def test_live_and_batch_leave_the_same_alert_rows(detector, pets_subset, tmp_path) -> None:
    """Both drivers feed the one OutputSink: same alert rows (ids, times, tracks) in SQLite."""
    from monitor.config import MonitorConfig
    from monitor.store import StoreReader
    from pipelines.batch import run_batch
    from pipelines.sink import OutputSink

    cfg = MonitorConfig(rules=RulesConfig(zones=[ZONE]))
    spec = discover_inputs([pets_subset])[0]
    run_batch(cfg, [spec], tmp_path / "batch", _pipeline(detector))

    sink = OutputSink(cfg, tmp_path / "live", _pipeline(detector))
    sink.begin_run("live-run", "live")
    source = FrameSource.open(spec)
    sink.open(spec.name, source.fps, source.size, files=False)
    runner = LiveRunner(sink.pipeline, sink.write, queue_size=100, batch=4)
    stats = runner.run({spec.name: source.frames()})
    sink.finish_run("done", {})
    sink.close_all()
    assert stats.dropped == {spec.name: 0}

    def rows(db):
        return sorted(
            (a.id, a.rule, a.start_time, a.end_time, a.track_ids, a.snapshot_path)
            for a in StoreReader(db).alerts()
        )

    batch_rows, live_rows = (
        rows(tmp_path / "batch" / "monitor.db"),
        rows(tmp_path / "live" / "monitor.db"),
    )
    assert batch_rows and batch_rows == live_rows
    for root, *_rest, snap in [(tmp_path / "batch", *r) for r in batch_rows]:
        assert (root / snap).is_file()
