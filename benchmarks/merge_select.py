"""Choose a weight interpolation of two detectors on the val split, clean and under camera shifts.

Builds ``(1 - alpha) * base + alpha * other`` for each partner and alpha (``training.merge``),
scores every candidate and the endpoints with ultralytics val on the dataset's val split, as it is
and re-rendered by each shift of ``camera_shift.py``, and ranks by
``0.5 * mAP50-95(clean) + 0.5 * mean mAP50-95(shifts)``. The held-out block is never touched.

    python benchmarks/merge_select.py --data ~/.cache/video-monitor/datasets/coco6-student-v3/data.yaml
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from bench_report import machine, write_json  # noqa: E402
from camera_shift import SHIFTS  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry  # noqa: E402
from monitor.runtime import configure_offline  # noqa: E402
from training.merge import interpolate  # noqa: E402


def shifted_val(data_yaml: Path, root: Path, seed: int) -> dict[str, Path]:
    """One data.yaml per shift whose val images are the dataset's, re-rendered (PNG, lossless
    after the shift); labels are the originals (normalised, so they follow a resize)."""
    doc = yaml.safe_load(data_yaml.read_text())
    base = Path(doc.get("path") or data_yaml.parent)
    images = sorted((base / doc["val"]).iterdir())
    labels = base / str(doc["val"]).replace("images", "labels", 1)
    out: dict[str, Path] = {}
    for i, (name, shift) in enumerate(SHIFTS.items()):
        if name == "none":
            out[name] = data_yaml
            continue
        rng = np.random.default_rng(seed)
        folder = root / f"shift{i}"
        (folder / "images").mkdir(parents=True)
        (folder / "labels").symlink_to(labels.resolve(), target_is_directory=True)
        for img_path in images:
            img = cv2.imread(str(img_path))
            if img is None:
                raise FileNotFoundError(f"cannot read {img_path}")
            cv2.imwrite(str(folder / "images" / f"{img_path.stem}.png"), shift(img, rng)[0])
        spec = {"path": str(folder), "train": "images", "val": "images", "names": doc["names"]}
        out[name] = folder / "data.yaml"
        out[name].write_text(yaml.safe_dump(spec))
    return out


def val(weights: Path, data: Path, imgsz: int) -> dict[str, float]:
    """ultralytics val on the val split of ``data`` (all classes)."""
    from ultralytics import YOLO

    m = YOLO(str(weights)).val(data=str(data), imgsz=imgsz, conf=0.001, batch=16, device="cpu",
                               workers=0, plots=False, verbose=False)  # fmt: skip
    return {"map50": round(float(m.box.map50), 4), "map50_95": round(float(m.box.map), 4)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build, score and rank the candidates; returns the JSON report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="data.yaml with a val split")
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--base", default="coco6-student-v4")
    ap.add_argument("--other", nargs="+", default=["coco6-student-v6", "coco6-student-v7"])
    ap.add_argument("--alpha", nargs="+", type=float, default=[0.3, 0.5, 0.7])
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="folder to keep the candidate .pt files in")
    ap.add_argument("--json", type=Path, default=Path("runs/merge_select.json"))
    args = ap.parse_args(argv)
    configure_offline()
    reg = ModelRegistry(args.models_dir)
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="merge-select-") as tmp:
        work = Path(tmp)
        keep = args.keep or work
        keep.mkdir(parents=True, exist_ok=True)
        base = reg.resolve_path(reg.get(args.base))
        models: dict[str, Path] = {args.base: base}
        for other in args.other:
            models[other] = reg.resolve_path(reg.get(other))
            for alpha in args.alpha:
                dst = keep / f"{args.base}+{other}@{alpha}.pt"
                models[f"{other} alpha={alpha}"] = interpolate(
                    base, models[other], alpha, dst, repo
                ).path
        datasets = shifted_val(args.data.expanduser(), work, args.seed)
        rows: dict[str, Any] = {}
        for name, weights in models.items():
            r: dict[str, Any] = {s: val(weights, d, args.imgsz) for s, d in datasets.items()}
            shifted = [r[s]["map50_95"] for s in r if s != "none"]
            r["score"] = round(0.5 * r["none"]["map50_95"] + 0.5 * float(np.mean(shifted)), 4)
            rows[name] = r
            Console().print(f"{name}: score {r['score']}")
    candidates = [n for n in rows if "alpha=" in n]
    chosen = max(candidates, key=lambda n: rows[n]["score"]) if candidates else None
    report = {"data": str(args.data), "base": args.base, "models": rows, "chosen": chosen,
              "score": "0.5 * val mAP50-95 clean + 0.5 * mean val mAP50-95 over the shifts",
              "env": machine()}  # fmt: skip
    write_json(report, args.json)
    t = Table(title=f"val split, mAP50-95 (score: {report['score']})")
    t.add_column("model")
    for s in SHIFTS:
        t.add_column(s, justify="right")
    t.add_column("score", justify="right")
    for name, r in rows.items():
        mark = " (chosen)" if name == chosen else ""
        t.add_row(name + mark, *(f"{r[s]['map50_95']:.3f}" for s in SHIFTS), f"{r['score']:.4f}")
    Console(width=200).print(t)
    return report


if __name__ == "__main__":
    main()
