"""Throughput of `monitor batch` against `yolo predict` on the same weights, imgsz and frames.

Runs the peers alternately, several rounds, each as a fresh process (start-up included for
all), and prints frames/s and the ratio to `yolo predict`; writes the figures as JSON.

    python benchmarks/batch_vs_yolo_predict.py --frames 200 --rounds 2 --json out/bench_batch.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONITOR_DATA", REPO.parent / "shared" / "data"))

PREDICT_2T = """
import sys
from monitor.runtime import configure_offline
configure_offline(2)
from ultralytics import YOLO
model = YOLO(sys.argv[1])
for _ in model.predict(sys.argv[2], imgsz=int(sys.argv[3]), stream=True, verbose=False, device="cpu"):
    pass
"""


def _subset(src: Path, n: int, root: Path) -> Path:
    seq = root / "bench_seq"
    (seq / "img1").mkdir(parents=True)
    files = sorted(src.glob("*.jpg"))[:n]
    for f in files:
        (seq / "img1" / f.name).symlink_to(f.resolve())
    ini = src.parent / "seqinfo.ini"
    if ini.is_file():
        (seq / "seqinfo.ini").write_text(ini.read_text())
    return seq


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="weights (default: promoted detector)")
    ap.add_argument("--source", type=Path, default=DATA / "pets09_s2l1" / "img1")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--imgsz", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=REPO / "out" / "bench_batch_vs_yolo_predict.json")
    args = ap.parse_args()

    from monitor.registry import resolve_model as resolve_weights

    weights = resolve_weights(args.weights)
    if args.imgsz is None:
        from monitor.runtime import configure_offline

        configure_offline()
        from ultralytics import YOLO

        args.imgsz = int(YOLO(str(weights)).overrides.get("imgsz") or 640)
    env = dict(os.environ, YOLO_OFFLINE="1", PYTHONWARNINGS="ignore")
    with tempfile.TemporaryDirectory() as tmp:
        seq = _subset(args.source, args.frames, Path(tmp))
        n = len(list((seq / "img1").iterdir()))
        cfg = Path(tmp) / "cfg.yaml"
        cfg.write_text(f"model: {{imgsz: {args.imgsz}, device: cpu}}\n")
        peers = {
            "yolo predict (CLI defaults)": [
                "yolo", "predict", f"model={weights}", f"source={seq / 'img1'}",
                f"imgsz={args.imgsz}", "save=False", "verbose=False", "device=cpu",
            ],
            "ultralytics predict, 2 threads": [
                sys.executable, "-c", PREDICT_2T, str(weights), str(seq / "img1"), str(args.imgsz),
            ],
            "monitor batch (track+rules+video+jsonl)": [
                "monitor", "batch", str(seq), "--out", str(Path(tmp) / "out"), "--config", str(cfg),
                "--weights", str(weights), "--force",
            ],
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in peers}
        for _ in range(args.rounds):
            for name, cmd in peers.items():
                times[name].append(_timed(cmd, env))
        summary = json.loads((Path(tmp) / "out" / "bench_seq" / "summary.json").read_text())
    base = statistics.median(times["yolo predict (CLI defaults)"])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows.append({"peer": name, "seconds": [round(t, 2) for t in ts], "median_s": round(med, 2),
                     "fps": round(n / med, 2), "ratio_vs_yolo_predict": round(base / med, 3)})  # fmt: skip
    result = {
        "frames": n, "imgsz": args.imgsz, "weights": weights.name, "rounds": args.rounds,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "monitor_processing_fps": summary["fps_achieved"], "peers": rows,
    }  # fmt: skip
    print(
        f"{n} frames, imgsz {args.imgsz}, {weights.name}, {args.rounds} rounds (wall incl. start-up)"
    )
    print(f"{'peer':44s} {'median s':>9s} {'fps':>7s} {'ratio':>7s}")
    for r in rows:
        print(
            f"{r['peer']:44s} {r['median_s']:9.2f} {r['fps']:7.2f} {r['ratio_vs_yolo_predict']:7.3f}"
        )
    print(f"monitor batch processing-only fps (summary.json): {summary['fps_achieved']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
