"""Person IDF1 of detector + tracker on the PETS09 frames with ground-truth identities.

Each model runs through the ultralytics backend (``classes: [person]``; ``nanodet`` and
``centernet`` through their own backends) and BoT-SORT, once per camera-motion mode and start
frame. On the shared gt (frames 1-60) a single start swings by 0.1 on one id swap, so the table
shows the mean over the starts (the figures in README and models/STUDENT.md). ``--gt`` takes a
fuller MOT gt (the MOT15 file covers all 795 frames; the students trained on PETS frames after
70, the teachers never saw PETS).

    python benchmarks/tracking_idf1.py --model coco6-student-v6 --model coco6-student-v4
    python benchmarks/tracking_idf1.py --gt ~/.cache/video-monitor/gt/PETS09-S2L1-mot15-gt.txt \
        --starts 0 --model coco6-student-v9 --model nanodet --model centernet
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import machine, split_size, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def gt_identities(
    gt_file: Path, last: int | None = None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Frame number -> (xyxy, person ids) from a MOT gt file, frames 1 to ``last`` (default: its
    last frame)."""
    rows = np.loadtxt(gt_file, delimiter=",", ndmin=2)
    out = {}
    for f in range(1, int(last or rows[:, 0].max()) + 1):
        r = rows[rows[:, 0] == f]
        xyxy = np.column_stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]])
        out[f] = (xyxy, r[:, 1].astype(int))
    return out


TEACHERS = ("nanodet", "centernet")


def run(
    model: str,
    camera_motion: str,
    frames: list[Any],
    gt: dict[int, Any],
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Any:
    """IDF1 of one fresh pipeline over ``frames`` (batches of 8, as the batch driver runs);
    ``overrides`` holds ``model``/``tracker`` fields set on top (``--set``); returns the
    ``training.evaluation.IdentityScore``."""
    from monitor.config import MonitorConfig, TrackerConfig
    from monitor.detectors import BACKENDS
    from monitor.pipeline import Pipeline
    from monitor.registry import resolve_model
    from training.evaluation import pipeline_identity

    name, size = split_size(model)
    overrides = overrides or {}
    fields: dict[str, Any] = {"classes": ["person"], "device": "cpu", "imgsz": size}
    fields.update(overrides.get("model", {}))
    if name not in TEACHERS:
        fields["weights"] = str(resolve_model(name))
    backend = name if name in TEACHERS else "ultralytics"
    mode = (
        {"type": "bytetrack"} if camera_motion == "bytetrack" else {"camera_motion": camera_motion}
    )
    cfg = MonitorConfig(
        model=BACKENDS[backend][0].model_validate(fields),
        tracker=TrackerConfig.model_validate(mode | overrides.get("tracker", {})),
    )
    return pipeline_identity(Pipeline.from_config(cfg), frames, lambda f: gt[f.index + 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model",
        action="append",
        help="registry version, weights, nanodet or centernet; NAME@SIZE for another inference "
        "size (repeatable; default: promoted)",
    )
    ap.add_argument("--gt", type=Path, help="MOT gt with identities (default: the sequence's)")
    ap.add_argument("--starts", type=int, nargs="+", default=[0, 3, 6, 10, 15])
    ap.add_argument(
        "--camera-motion",
        nargs="+",
        default=["none", "sparseOptFlow"],
        help="BoT-SORT's camera-motion modes to run, and/or bytetrack (ByteTrack instead)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="config field on top of the defaults, e.g. tracker.new_track_thresh=0.5 or "
        "model.iou=0.6 (repeatable)",
    )
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=REPO / "out" / "bench_tracking_idf1.json")
    args = ap.parse_args()
    from monitor.runtime import configure_offline

    configure_offline()
    overrides: dict[str, dict[str, Any]] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot) or section not in ("model", "tracker"):
            ap.error(f"--set {item}: expected model.FIELD=VALUE or tracker.FIELD=VALUE")
        overrides.setdefault(section, {})[name] = yaml.safe_load(value)
    from monitor.sources import FrameSource, discover_inputs

    seq = args.data / "pets09_s2l1"
    gt = (
        gt_identities(args.gt.expanduser(), None)
        if args.gt
        else gt_identities(seq / "gt" / "gt.txt", 60)
    )
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / f"pets{len(gt)}"
        (sub / "img1").mkdir(parents=True)
        for f in range(1, len(gt) + 1):
            (sub / "img1" / f"{f:06d}.jpg").symlink_to((seq / "img1" / f"{f:06d}.jpg").resolve())
        (sub / "seqinfo.ini").write_text((seq / "seqinfo.ini").read_text())
        frames = list(FrameSource.open(discover_inputs([sub])[0]).frames())
    rows = []
    for model in args.model or ["promoted"]:
        row: dict[str, Any] = {"model": model}
        for mode in args.camera_motion:
            scores = [run(model, mode, frames[s:], gt, overrides) for s in args.starts]
            row[mode] = round(statistics.mean(x.idf1 for x in scores), 3)
            row[f"{mode} per start"] = [round(x.idf1, 3) for x in scores]
            for key in ("idp", "idr", "switches", "track_ids"):
                row[f"{mode} {key}"] = [round(getattr(x, key), 3) for x in scores]
        rows.append(row)
        print(f"{model:24s}" + "".join(
            f"  {m} {row[m]:.3f} (switches {statistics.mean(row[f'{m} switches']):.0f}, "
            f"ids {statistics.mean(row[f'{m} track_ids']):.0f})" for m in args.camera_motion))  # fmt: skip
    report = {"metric": f"person IDF1, PETS09-S2L1 gt frames 1-{len(gt)} "
                        f"({args.gt or 'the shared gt'}), mean over start frames",
              "starts": args.starts, "overrides": overrides, "rows": rows, "machine": machine()}  # fmt: skip
    write_json(report, args.json)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
