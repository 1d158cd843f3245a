"""Person IDF1 of detector + tracker on the 60 PETS09 frames with ground-truth identities.

Each model runs through the ultralytics backend (``classes: [person]``) and BoT-SORT, once per
camera-motion mode and start frame; a single start swings by 0.1 on one id swap, so the table
shows the mean over the starts (the figures in README and models/STUDENT.md).

    python benchmarks/tracking_idf1.py --model coco6-student-v6 --model coco6-student-v4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import machine, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GT_FRAMES = 60


def gt_identities(seq: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Frame number -> (xyxy, person ids) from the sequence's MOT ``gt/gt.txt``."""
    rows = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    out = {}
    for f in range(1, GT_FRAMES + 1):
        r = rows[rows[:, 0] == f]
        xyxy = np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]])
        out[f] = (xyxy, r[:, 1].astype(int))
    return out


def run(weights: str, camera_motion: str, frames: list[Any], gt: dict[int, Any]) -> float:
    """IDF1 of one fresh pipeline over ``frames`` (batches of 8, as the batch driver runs)."""
    from monitor.config import MonitorConfig, TrackerConfig
    from monitor.detectors.ultralytics import UltralyticsConfig
    from monitor.pipeline import Pipeline
    from training.evaluation import pipeline_idf1

    cfg = MonitorConfig(
        model=UltralyticsConfig(weights=weights, classes=["person"], device="cpu"),
        tracker=TrackerConfig(camera_motion=camera_motion),  # type: ignore[arg-type]
    )
    return pipeline_idf1(Pipeline.from_config(cfg), frames, lambda f: gt[f.index + 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="registry version or weights (repeatable)")
    ap.add_argument("--starts", type=int, nargs="+", default=[0, 3, 6, 10, 15])
    ap.add_argument("--camera-motion", nargs="+", default=["none", "sparseOptFlow"])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=REPO / "out" / "bench_tracking_idf1.json")
    args = ap.parse_args()
    from monitor.runtime import configure_offline

    configure_offline()
    from monitor.registry import resolve_model
    from monitor.sources import FrameSource, discover_inputs

    seq = args.data / "pets09_s2l1"
    gt = gt_identities(seq)
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / "pets60"
        (sub / "img1").mkdir(parents=True)
        for f in range(1, GT_FRAMES + 1):
            (sub / "img1" / f"{f:06d}.jpg").symlink_to((seq / "img1" / f"{f:06d}.jpg").resolve())
        (sub / "seqinfo.ini").write_text((seq / "seqinfo.ini").read_text())
        frames = list(FrameSource.open(discover_inputs([sub])[0]).frames())
    rows = []
    for model in args.model or ["promoted"]:
        weights = str(resolve_model(model))
        row: dict[str, Any] = {"model": model}
        for mode in args.camera_motion:
            scores = [run(weights, mode, frames[s:], gt) for s in args.starts]
            row[mode] = round(statistics.mean(scores), 3)
            row[f"{mode} per start"] = [round(x, 3) for x in scores]
        rows.append(row)
        print(f"{model:24s}" + "".join(f"  {m} {row[m]:.3f}" for m in args.camera_motion))
    report = {"metric": "person IDF1, PETS09-S2L1 gt frames 1-60, mean over start frames",
              "starts": args.starts, "rows": rows, "machine": machine()}  # fmt: skip
    write_json(report, args.json)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
