"""INT8 vs fp32 ONNX vs .pt: held-out mAP and CPU latency of a registered detector.

Exports (and registers) the ONNX and INT8 variants when the version has none yet, then measures
every variant on the held-out test split of the dataset: prints a table, writes JSON.

    python benchmarks/export_int8.py --data ~/.cache/video-monitor/datasets/pets09_s2l1-person/data.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry  # noqa: E402
from monitor.runtime import configure_offline  # noqa: E402
from training.workflows import export_version, measure_variants  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the JSON report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="data.yaml with a test split")
    ap.add_argument("--version", help="registry version (default: promoted detector)")
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument(
        "--json", type=Path, help="output JSON (default: <models>/<version>-export.json)"
    )
    args = ap.parse_args(argv)
    configure_offline()
    reg = ModelRegistry(args.models_dir)
    mv = reg.get(args.version) if args.version else reg.promoted()
    if mv is None:
        raise SystemExit("no promoted detector; pass --version")
    if "onnx-int8" in mv.variants:
        report = measure_variants(reg, mv.version, args.data, args.imgsz)
    else:
        report = export_version(reg, mv.version, args.data, args.imgsz, int8=True)
    report["env"] = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "threads": 2}
    report["version"], report["imgsz"] = mv.version, args.imgsz
    table = Table(title=f"{mv.version}: held-out test split, onnxruntime CPU, {args.imgsz}px")
    for col in ("variant", "mAP50", "mAP50-95", "ms/frame", "MB"):
        table.add_column(col)
    for name, r in report.items():
        if isinstance(r, dict) and "map50" in r:
            ms = "-" if r["ms_per_frame"] is None else f"{r['ms_per_frame']:.1f}"
            table.add_row(name, f"{r['map50']:.3f}", f"{r['map50_95']:.3f}", ms, f"{r['size_mb']}")
    Console().print(table)
    out = args.json or args.models_dir / f"{mv.version}-export.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
