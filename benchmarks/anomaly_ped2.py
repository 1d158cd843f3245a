"""UCSD Ped2 anomaly benchmark: frame-level ROC AUC, scoring speed, baseline and supervised halves.

Trains on the 16 normal-only Train clips (or loads ``--model``), scores the 12 Test clips on one
thread, prints a table with the frame-difference baseline beside the model, and writes JSON.

    OMP_NUM_THREADS=1 python benchmarks/anomaly_ped2.py --json runs/anomaly_ped2.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
from bench_report import machine, write_json  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from monitor.anomaly import load_model  # noqa: E402
from training.anomaly_eval import evaluate_ped2, load_ped2  # noqa: E402
from training.anomaly_fit import fit_normal  # noqa: E402

DATA = Path(os.environ.get("MONITOR_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ANCHORS = {"MNAD": 97.0, "SSMTL": 97.5, "AI-VAD": 99.1, "HF2-VAD": 99.3}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table(r: dict) -> Table:
    """The results as a rich table (AUC in percent)."""
    t = Table(title="UCSD Ped2 test, frame-level ROC AUC (%), pooled over the 12 test clips")
    for col in ("method", "pooled centred", "pooled causal", "pooled raw", "per-clip mean", "fps"):
        t.add_column(col, justify="right" if col != "method" else "left")
    b = r["baseline_frame_difference"]
    t.add_row("this model (normal-only)", _pct(r["auc"]), _pct(r["auc_causal"]), _pct(r["auc_raw"]),
              _pct(r["auc_per_clip_mean"]), f"{r['fps']:.0f}")  # fmt: skip
    t.add_row("frame difference, max 20px cell", _pct(b["auc"]), _pct(b["auc_causal"]),
              _pct(b["auc_raw"]), _pct(b["auc_per_clip_mean"]), "-")  # fmt: skip
    if "supervised" in r:
        s = r["supervised"]
        for k in ("first_to_second", "second_to_first"):
            t.add_row(f"supervised {k.replace('_', ' ')}", _pct(s[k]["auc"]),
                      _pct(s[k]["auc_causal"]), _pct(s[k]["auc_raw"]),
                      _pct(s[k]["auc_per_clip_mean"]), "-")  # fmt: skip
        t.add_row("supervised, mean of halves", _pct(s["mean_auc"]), "", "", "", "")
    for name, auc in ANCHORS.items():
        t.add_row(f"{name} (published)", f"{auc:.1f}", "", "", "", "")
    return t


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the JSON report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA / "ucsd_ped2")
    ap.add_argument("--model", help="model .npz or registry version (default: train now)")
    ap.add_argument("--json", type=Path, default=Path("runs/anomaly_ped2.json"))
    ap.add_argument("--no-supervised", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    ped2 = load_ped2(args.data)
    t0 = time.perf_counter()
    train_feats = None
    if args.model:
        model = load_model(args.model)
    else:
        model, train_feats = fit_normal(
            [c.frames for c in ped2.train], fps=10.0, meta={"version": "bench"}
        )
    train_s = time.perf_counter() - t0
    roc = args.json.with_suffix(".roc.png")
    report = evaluate_ped2(
        ped2, model, supervised=not args.no_supervised, roc_png=roc, train_feats=train_feats
    )
    report["train_seconds"] = train_s
    report["env"] = machine(threads=1)
    write_json(report, args.json)
    console = Console(width=120)
    console.print(table(report))
    console.print(f"JSON -> {args.json}, ROC -> {roc}")
    return report


if __name__ == "__main__":
    main()
