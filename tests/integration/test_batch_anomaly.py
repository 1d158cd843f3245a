"""`monitor batch` with the anomaly stage on: a real UCSD Ped2 anomaly becomes an alert in SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from cli.main import app


def test_batch_raises_anomaly_alert_with_heatmap(
    tmp_path: Path, ped2_dir: Path, detector_weights
) -> None:
    # Test clip 04: a cart enters the walkway; the official labels say where it is abnormal.
    labels = np.load(ped2_dir / "frame_labels_ped2.npy")[0]
    clip_start = 180 + 180 + 150  # clips 01-03 come first in the label array
    clip_labels = labels[clip_start : clip_start + 180]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("anomaly: {enabled: true}\noutputs: {clips: false}\n")
    out = tmp_path / "out"
    args = [
        "batch",
        str(ped2_dir / "testing" / "frames" / "04"),
        "--fps",
        "10",
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--weights",
        str(detector_weights),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(out / "monitor.db")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM alerts WHERE kind = 'anomaly' ORDER BY start_time").fetchall()
    assert rows, "the promoted anomaly model must flag the cart"
    first = rows[0]
    assert clip_labels[first["frame_index"]] == 1, "first anomaly alert falls on an abnormal frame"
    assert "sigma" in first["explanation"]
    assert (out / first["heatmap_path"]).is_file() and (out / first["snapshot_path"]).is_file()
    summary = json.loads((out / "04" / "summary.json").read_text())
    assert summary["frames"] == 180
    assert {a["id"] for a in summary["alerts"]} == {r["id"] for r in rows}

    # Anomaly alerts are episodes with deterministic ids: a forced re-run adds no rows.
    again = CliRunner().invoke(app, [*args, "--force"])
    assert again.exit_code == 0, again.output
    count = db.execute("SELECT COUNT(*) FROM alerts WHERE kind = 'anomaly'").fetchone()[0]
    assert count == len(rows)
