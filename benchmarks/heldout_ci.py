"""How far the held-out PETS figures can be trusted: bootstrap intervals over its 20 frames.

The issue's detector goal (mAP50 >= 0.95) is judged on PETS gt 41-60: 20 frames, 120 person
boxes, six people. This scores every model once through its deployed ``detect`` path (as
``camera_shift.py`` does, unshifted), then resamples the frames with replacement and recomputes
person mAP50 / mAP50-95 on each resample, the same resample for every model, so the differences
between models are paired. Two resamplings: single frames, and circular blocks of 5 consecutive
frames (neighbouring frames at 7 fps are nearly the same picture, so the single-frame interval is
too narrow; the block one is the honest one). Writes JSON and prints a table.

    python benchmarks/heldout_ci.py --student coco6-student-v8 --student coco6-student-v6
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_report import machine, write_json  # noqa: E402
from camera_shift import detector_for, held_out_frames, held_out_parser, models_under_test  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from monitor.types import Frame  # noqa: E402
from training.evaluation import match  # noqa: E402
from training.finetune import boxes_of  # noqa: E402
from training.labels import LabeledFrame  # noqa: E402

PerFrame = list[tuple[np.ndarray, np.ndarray, int]]
"""Per frame: (correct at each IoU threshold (P, 10), scores (P,), gt boxes in the frame)."""


def per_frame(detector: Any, frames: list[LabeledFrame]) -> PerFrame:
    """Each frame's person predictions matched against its gt once, for cheap resampling."""
    out: PerFrame = []
    for fr in frames:
        img = cv2.imread(str(fr.image))
        if img is None:
            raise FileNotFoundError(f"cannot read {fr.image}")
        [dets] = detector.detect([Frame(fr.video, fr.frame, 0.0, img)])
        preds = boxes_of(dets, {"person": 0})
        scores = np.array([b.score for b in preds], dtype=np.float64)
        out.append((match(fr.boxes, preds), scores, len(fr.boxes)))
    return out


def person_ap(frames: PerFrame, picks: np.ndarray) -> tuple[float, float]:
    """Person mAP50 and mAP50-95 over the frames ``picks`` (indices, repeats allowed)."""
    from ultralytics.utils.metrics import ap_per_class

    tp = np.concatenate([frames[i][0] for i in picks])
    conf = np.concatenate([frames[i][1] for i in picks])
    n_gt = sum(frames[i][2] for i in picks)
    ap = ap_per_class(tp, conf, np.zeros(len(conf)), np.zeros(n_gt))[5]
    return (float(ap[0, 0]), float(ap[0].mean())) if len(ap) else (0.0, 0.0)


def resamples(n: int, rounds: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """``rounds`` x ``n`` frame indices: blocks of ``block`` consecutive frames (1 = single
    frames), wrapping round the end so that every frame is drawn equally often (circular blocks).
    """
    starts = rng.integers(0, n, size=(rounds, -(-n // block)))
    picks = (starts[:, :, None] + np.arange(block)).reshape(rounds, -1) % n
    return picks[:, :n]


def summarise(values: np.ndarray, point: float, goal: float | None = None) -> dict[str, Any]:
    """Point estimate, 95 % percentile interval and (if given) how often the goal is reached."""
    lo, hi = np.percentile(values, [2.5, 97.5])
    out = {"point": round(point, 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}
    if goal is not None:
        out["p_reaches_goal"] = round(float(np.mean(values >= goal)), 3)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the JSON report."""
    ap = held_out_parser(__doc__ or "", "heldout_ci.json")
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--block", type=int, default=5, help="frames per circular block")
    args = ap.parse_args(argv)
    frames, head = held_out_frames(args.data, args.gt, args.frames)
    scored = {name: per_frame(detector_for(spec, args.models_dir, args.iou), frames)
              for name, spec in models_under_test(args.models_dir, args.student).items()}  # fmt: skip
    rng = np.random.default_rng(args.seed)
    everything = np.arange(len(frames))
    report: dict[str, Any] = {**head, "rounds": args.rounds, "models": {}}
    schemes = {"frames": resamples(len(frames), args.rounds, 1, rng),
               f"blocks of {args.block}": resamples(len(frames), args.rounds, args.block, rng)}  # fmt: skip
    draws = {n: {s: np.array([person_ap(pf, p) for p in picks]) for s, picks in schemes.items()}
             for n, pf in scored.items()}  # fmt: skip
    reference = next(n for n in scored if n.startswith("NanoDet"))
    for name, pf in scored.items():
        m50, m5095 = person_ap(pf, everything)
        entry: dict[str, Any] = {}
        for s in schemes:
            d = draws[name][s]
            entry[s] = {
                "map50": summarise(d[:, 0], m50, goal=0.95),
                "map50_95": summarise(d[:, 1], m5095, goal=0.45),
                f"p_map50_above_{reference.split()[0]}": round(
                    float(np.mean(d[:, 0] > draws[reference][s][:, 0])), 3
                ),
            }
        report["models"][name] = entry
    report["env"] = machine()
    write_json(report, args.json)
    Console(width=170).print(table(report, reference))
    print(f"JSON -> {args.json}")
    return report


def table(report: dict[str, Any], reference: str) -> Table:
    """One row per model: mAP50 with both intervals, P(goal), mAP50-95, P(beats NanoDet)."""
    t = Table(title=f"{report['frames']}, person: 95 % bootstrap intervals "
                    f"({report['rounds']} resamples; blocks = circular blocks of frames)")  # fmt: skip
    frames, blocks = list(next(iter(report["models"].values())))
    ref = reference.split()[0]
    for col in ("model", "mAP50", "95 % (frames)", "95 % (blocks)", "P(mAP50 >= 0.95)",
                "mAP50-95 (95 %, blocks)", f"P(mAP50 > {ref})"):  # fmt: skip
        t.add_column(col)
    for name, entry in report["models"].items():
        b = entry[blocks]
        t.add_row(
            name,
            f"{b['map50']['point']:.3f}",
            "{:.3f}-{:.3f}".format(*entry[frames]["map50"]["ci95"]),
            "{:.3f}-{:.3f}".format(*b["map50"]["ci95"]),
            f"{b['map50']['p_reaches_goal']:.2f}",
            "{:.3f} ({:.3f}-{:.3f})".format(b["map50_95"]["point"], *b["map50_95"]["ci95"]),
            f"{b[f'p_map50_above_{ref}']:.2f}",
        )
    return t


if __name__ == "__main__":
    main()
