"""Throughput and accuracy of `monitor batch` modes against `yolo predict` on the same weights/imgsz.

Per dataset (PETS, the Intel clips, a few Ped2 test clips) the peers run alternately, several
rounds, each as a fresh process (start-up included): `yolo predict` (CLI defaults), ultralytics
predict with 2 threads, and `monitor batch` in each mode (backend x gating x detect-every-k).
Columns: frames/s, ratio to `yolo predict`, agreement with full detection (recall / precision of
the reference boxes at IoU 0.5, conf >= model.conf), AP50 on PETS gt frames 41-60, alerts equal to
full detection's (configs/pets09.yaml rules). A per-stage profile of one in-process PETS run per
profiled mode (decode .. write) comes first.

    python benchmarks/batch_vs_yolo_predict.py --quick --json out/bench_quick.json
    python benchmarks/batch_vs_yolo_predict.py --json out/bench_full.json   # all frames, all modes
    python benchmarks/batch_vs_yolo_predict.py --device cuda:0 --modes "ultralytics full" \
        "ultralytics full b32" "default config (auto: openvino int8, gate)"  # a GPU, both peers on it
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
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import (  # noqa: E402
    agreement,
    alert_keys,
    alerts_match,
    ap50,
    read_jsonl,
    read_mot_gt,
)
from bench_report import device_name  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONITOR_DATA", REPO.parent / "shared" / "data"))

INT8 = "onnx-int8"  # stands for the benchmarked version's INT8 ONNX export (registry variant)
GATE, FULL = {"motion_gating": True}, {"motion_gating": False}
# Raw runtimes run one inference thread: under contention (a shared 2-core machine) two threads
# were 1.2-1.9x slower, and with the other core the tracker, decoding and encoding still overlap.
OV, ONNX = {"backend": "openvino", "threads": 1}, {"backend": "onnx", "threads": 1}
OV8 = {"backend": "openvino", "precision": "int8", "threads": 2}
MODES: dict[str, dict[str, Any]] = {
    "ultralytics full": {"model": {"backend": "ultralytics"}, "performance": FULL},
    "ultralytics gate": {"model": {"backend": "ultralytics"}, "performance": GATE},
    "ultralytics full b32": {"model": {"backend": "ultralytics", "batch": 32}, "performance": FULL},
    "default config (auto: openvino int8, gate)": {},
    "openvino-int8 full": {"model": {**OV8}, "performance": FULL},
    "openvino-int8 gate k2": {"model": {**OV8}, "performance": {**GATE, "detect_every": 2}},
    "onnx full": {"model": ONNX, "performance": FULL},
    "onnx-int8 full": {"model": {**ONNX, "weights": INT8}, "performance": FULL},
    "openvino full": {"model": OV, "performance": FULL},
    "openvino gate": {"model": OV, "performance": GATE},
    "openvino gate k2": {"model": OV, "performance": {**GATE, "detect_every": 2}},
    "openvino gate k3": {"model": OV, "performance": {**GATE, "detect_every": 3}},
    "openvino gate region": {
        "model": OV, "performance": {**GATE, "region_detection": True}
    },
    "onnx-int8 gate k3": {
        "model": {**ONNX, "weights": INT8}, "performance": {**GATE, "detect_every": 3}
    },
    "ultralytics gate k3": {"model": {"backend": "ultralytics"}, "performance": {**GATE, "detect_every": 3}},
    "openvino gate k3 fixed": {
        "model": OV,
        "performance": {**GATE, "detect_every": 3, "adaptive_k": False},
    },
    "openvino gate k3 bytetrack": {
        "model": OV, "performance": {**GATE, "detect_every": 3},
        "tracker": {"type": "bytetrack"},
    },
    "openvino gate k2, no video": {
        "model": OV, "performance": {**GATE, "detect_every": 2},
        "outputs": {"annotated_video": False},
    },
}  # fmt: skip
QUICK_MODES = ["ultralytics full", "default config (auto: openvino int8, gate)", "ultralytics gate", "openvino full", "openvino gate",
               "openvino gate k2"]  # fmt: skip
PREDICT_2T = """
import sys
from monitor.runtime import configure_offline
configure_offline(2)
from ultralytics import YOLO
model = YOLO(sys.argv[1])
for _ in model.predict(sys.argv[2], imgsz=int(sys.argv[3]), stream=True, verbose=False, device=sys.argv[4]):
    pass
"""


def _subset(src: Path, n: int, root: Path, name: str, fps: float | None = None) -> Path:
    """A folder of the first ``n`` frames of an image folder (symlinks) or a video (JPEGs)."""
    import cv2

    seq = root / name
    (seq / "img1").mkdir(parents=True)
    if src.is_dir():
        for f in sorted(src.glob("*.jpg"))[:n]:
            (seq / "img1" / f.name).symlink_to(f.resolve())
    else:
        cap = cv2.VideoCapture(str(src))
        fps = fps or cap.get(cv2.CAP_PROP_FPS)
        for i in range(n):
            ok, img = cap.read()
            if not ok:
                break
            cv2.imwrite(str(seq / "img1" / f"{i:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cap.release()
    ini = src.parent / "seqinfo.ini"
    rate = fps or 10.0
    text = ini.read_text() if ini.is_file() else f"[Sequence]\nframeRate={rate:g}\n"
    (seq / "seqinfo.ini").write_text(text)
    return seq


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return elapsed


def _mode_config(
    base: dict[str, Any], mode: dict[str, Any], args: argparse.Namespace, path: Path
) -> Path:
    """A mode's config file; its model is ``args.weights`` (the promoted one when None) on
    ``args.device``, as for the ``yolo predict`` peers."""
    cfg = json.loads(json.dumps(base))
    for section, values in mode.items():
        cfg.setdefault(section, {}).update(values)
    if args.video_codec:
        cfg.setdefault("outputs", {})["video_codec"] = args.video_codec
    weights = args.weights
    model = cfg.setdefault("model", {})
    model.update(imgsz=args.imgsz, device=args.device)
    if model.get("weights") == INT8:
        model["weights"] = _int8_export(weights)
    elif weights is not None:
        model.setdefault("weights", weights)
    path.write_text(yaml.safe_dump(cfg))
    return path


def _int8_export(version: str | None) -> str:
    """The INT8 ONNX export of a registered version (the promoted one when None)."""
    from monitor.registry import ModelRegistry

    reg = ModelRegistry()
    mv = reg.promoted() if version is None else reg.get(version)
    if mv is None:
        raise SystemExit(f"no promoted detector in {reg.file}")
    return str(reg.resolve_path(mv, INT8))


def _peers(weights: Path, src: Path, imgsz: int, modes: list[str], cfgs: dict[str, Path],
           out: Path, yolo: bool, device: str = "cpu") -> dict[str, list[str]]:  # fmt: skip
    peers: dict[str, list[str]] = {}
    if yolo:
        nested = sorted(src.glob("*/img1/*.jpg"))  # a folder of frame sequences: yolo wants a glob
        source = str(src / "*" / "img1" / "*.jpg") if nested else str(src)
        peers["yolo predict (CLI defaults)"] = [
            "yolo", "predict", f"model={weights}", f"source={source}", f"imgsz={imgsz}",
            "save=False", "verbose=False", f"device={device}",
        ]  # fmt: skip
        if device == "cpu":
            peers["ultralytics predict, 2 threads"] = [
                sys.executable, "-c", PREDICT_2T, str(weights), source, str(imgsz), device,
            ]  # fmt: skip
    for m in modes:
        peers[f"monitor batch: {m}"] = [
            "monitor", "batch", *_inputs(src), "--out", str(out / m.replace(" ", "_")),
            "--config", str(cfgs[m]), "--force",
        ]  # fmt: skip
    return peers


def _inputs(src: Path) -> list[str]:
    """A sequence folder is one input; a folder of sequences/videos is given input by input."""
    if (src / "img1").is_dir() or src.is_file() or any(src.glob("*.jpg")):
        return [str(src.parent if src.name == "img1" else src)]
    return [str(p) for p in sorted(src.iterdir()) if not p.name.endswith(".txt")]


def _accuracy(out: Path, modes: list[str], gt: Path | None, conf: float) -> dict[str, Any]:
    """Per mode: agreement with the first mode, AP50 on gt (PETS), alerts equal or not."""
    ref_dir = out / modes[0].replace(" ", "_")
    names = sorted(p.name for p in ref_dir.iterdir() if (p / "detections.jsonl").is_file())
    ref = {n: read_jsonl(ref_dir / n / "detections.jsonl", conf) for n in names}
    ref_alerts = {n: alert_keys(ref_dir / n / "summary.json") for n in names}
    acc: dict[str, Any] = {}
    for m in modes:
        d = out / m.replace(" ", "_")
        rec, prec, same, near, n_alerts = [], [], True, True, 0
        for n in names:
            boxes = read_jsonl(d / n / "detections.jsonl", conf)
            a = agreement(boxes, ref[n])
            rec.append(a["recall"])
            prec.append(a["precision"])
            alerts = alert_keys(d / n / "summary.json")
            same &= alerts == ref_alerts[n]
            near &= alerts_match(alerts, ref_alerts[n])
            n_alerts += len(alerts)
        row: dict[str, Any] = {"recall": round(min(rec), 4), "precision": round(min(prec), 4),
                               "alerts_same": same, "alerts_within_1s": near, "alerts": n_alerts}  # fmt: skip
        if gt is not None:
            truth = read_mot_gt(gt, 41, 60)
            row["ap50_gt41_60"] = ap50(read_jsonl(d / names[0] / "detections.jsonl"), truth)
        acc[m] = row
    return acc


def run_dataset(name: str, src: Path, args: argparse.Namespace, modes: list[str], tmp: Path,
                base_cfg: dict[str, Any], weights: Path, gt: Path | None, yolo: bool) -> dict[str, Any]:  # fmt: skip
    """All peers on one dataset, alternating, ``args.rounds`` rounds; rows with accuracy."""
    cfgs = {m: _mode_config(base_cfg, MODES[m], args, tmp / f"{name}-{i}.yaml")
            for i, m in enumerate(modes)}  # fmt: skip
    out = tmp / f"out-{name}"
    peers = _peers(weights, src, args.imgsz, modes, cfgs, out, yolo, args.device)
    env = dict(
        os.environ, YOLO_OFFLINE="1", PYTHONWARNINGS="ignore", OPENVINO_TELEMETRY_OPT_OUT="1"
    )
    times: dict[str, list[float]] = {k: [] for k in peers}
    loads = []
    for _ in range(args.rounds):
        for peer, cmd in peers.items():
            loads.append(os.getloadavg()[0])
            times[peer].append(_timed(cmd, env))
    frames = sum(json.loads(s.read_text())["frames"] for s in
                 (out / modes[0].replace(" ", "_")).glob("*/summary.json"))  # fmt: skip
    acc = _accuracy(out, modes, gt, base_cfg.get("model", {}).get("conf", 0.25))
    base = statistics.median(times[next(iter(peers))]) if yolo else None
    rows = []
    for peer, ts in times.items():
        med = statistics.median(ts)
        row = {"dataset": name, "peer": peer, "seconds": [round(t, 2) for t in ts],
               "fps": round(frames / med, 2), "ratio": round(base / med, 3) if base else None}  # fmt: skip
        row.update(acc.get(peer.removeprefix("monitor batch: "), {}))
        rows.append(row)
    return {"frames": frames, "load_avg": round(statistics.mean(loads), 2), "rows": rows}


STAGES = ["decode", "gate (motion)", "pre-process", "network", "NMS+decode", "track", "rules",
          "other (pipeline)", "annotate", "encode", "write (jsonl, store, clips)", "total"]  # fmt: skip


def run_profiles(
    seq: Path, modes: list[str], base: dict[str, Any], args: Any, tmp: Path
) -> dict[str, Any]:
    """Per-stage profile of each mode on ``seq``, each in a fresh process."""
    out = {}
    for i, m in enumerate(modes):
        cfg = _mode_config(base, MODES[m], args, tmp / f"profile-{i}.yaml")
        for flag in ("", "--overlap"):
            cmd = [
                sys.executable,
                str(REPO / "benchmarks" / "bench_profile.py"),
                str(cfg),
                str(seq),
            ]
            env = dict(os.environ, YOLO_OFFLINE="1", OPENVINO_TELEMETRY_OPT_OUT="1")
            proc = subprocess.run(
                cmd + [flag] * bool(flag), capture_output=True, text=True, env=env
            )
            if proc.returncode != 0:
                raise RuntimeError(f"profile {m} failed:\n{proc.stderr[-2000:]}")
            out[m + (" +overlap" if flag else "")] = json.loads(
                proc.stdout.strip().splitlines()[-1]
            )
    return out


def print_tables(result: dict[str, Any]) -> None:
    """The stage profile and the per-dataset throughput/accuracy tables."""
    prof = result["profile"]
    if prof:
        print(f"\nPer-stage profile, ms/frame ({result['profile_frames']} PETS frames, in-process)")
        print(f"{'stage':28s}" + "".join(f"{m[:22]:>24s}" for m in prof))
        for s in STAGES:
            print(
                f"{s:28s}"
                + "".join(f"{p['ms_per_frame'].get(s, 0.0):24.2f}" for p in prof.values())
            )
        print(f"{'in-process fps':28s}" + "".join(f"{p['fps']:24.2f}" for p in prof.values()))
        print(
            f"{'gate decisions':28s}"
            + "".join(f"{json.dumps(p['gate']):>24.24s}" for p in prof.values())
        )
    for name, ds in result["datasets"].items():
        print(f"\n{name}: {ds['frames']} frames, load average during the run {ds['load_avg']}")
        print(
            f"{'peer':42s} {'fps':>7s} {'ratio':>6s} {'recall':>7s} {'prec':>6s} {'AP50':>6s} alerts"
        )
        for r in ds["rows"]:
            ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "-"
            ap = f"{r['ap50_gt41_60']:.3f}" if "ap50_gt41_60" in r else "-"
            rec = f"{r['recall']:.3f}" if "recall" in r else "-"
            prec = f"{r['precision']:.3f}" if "precision" in r else "-"
            al = (
                ("same" if r["alerts_same"] else "DIFF") + f" ({r['alerts']})"
                if "alerts" in r
                else "-"
            )
            print(
                f"{r['peer'][:42]:42s} {r['fps']:7.2f} {ratio:>6s} {rec:>7s} {prec:>6s} {ap:>6s} {al}"
            )


def _save(result: dict[str, Any], path: Path) -> None:
    """Print the tables so far and write the JSON (a later failure keeps what was measured)."""
    print_tables(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="weights (default: promoted detector)")
    ap.add_argument("--imgsz", type=int, default=None, help="default: the size it was trained at")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--quick", action="store_true", help="150 PETS frames, 100 per Intel clip, 1 Ped2 clip"
    )
    ap.add_argument("--modes", nargs="*", default=None, help="mode names (default: all / quick)")
    ap.add_argument("--datasets", nargs="*", default=["pets", "intel", "ped2"])
    ap.add_argument("--profile-modes", nargs="*", default=None)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "pets09.yaml")
    ap.add_argument(
        "--intel-frames", type=int, default=None, help="frames per Intel clip (0: whole clips)"
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda:N, for every peer")
    ap.add_argument("--video-codec", default=None, help="outputs.video_codec, e.g. mp4v (no PyAV)")
    ap.add_argument("--json", type=Path, default=REPO / "out" / "bench_batch_vs_yolo_predict.json")
    args = ap.parse_args()
    from monitor.registry import resolve_model

    weights = resolve_model(args.weights)
    if args.imgsz is None:
        from monitor.detectors.ultralytics import trained_imgsz
        from monitor.runtime import configure_offline

        configure_offline()
        from ultralytics import YOLO

        args.imgsz = trained_imgsz(YOLO(str(weights)))
    modes = args.modes or (QUICK_MODES if args.quick else list(MODES))
    base = yaml.safe_load(args.config.read_text()) or {}
    n_pets, n_intel = (150, 100) if args.quick else (10**6, 10**6)
    if args.intel_frames is not None:
        n_intel = args.intel_frames or 10**6
    result: dict[str, Any] = {
        "imgsz": args.imgsz, "weights": weights.name, "rounds": args.rounds, "quick": args.quick,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "device": device_name(args.device), "video_codec": args.video_codec,
        "reference": modes[0], "datasets": {}, "profile": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        pets = _subset(DATA / "pets09_s2l1" / "img1", n_pets, tmp, "pets09")
        prof_modes = (
            args.profile_modes if args.profile_modes is not None else modes[:1] + modes[-1:]
        )
        prof_seq = _subset(DATA / "pets09_s2l1" / "img1", 150, tmp, "pets09-profile")
        result["profile_frames"] = 150
        result["profile"] = run_profiles(prof_seq, prof_modes, base, args, tmp)
        gt = DATA / "pets09_s2l1" / "gt" / "gt.txt"
        if "pets" in args.datasets:
            result["datasets"]["PETS09-S2L1"] = run_dataset(
                "pets", pets / "img1", args, modes, tmp, base, weights, gt, True)  # fmt: skip
            _save(result, args.json)
        if "intel" in args.datasets:
            intel = tmp / "intel"
            intel.mkdir()
            for clip in sorted((DATA / "intel_sample_videos").glob("*.mp4")):
                if n_intel < 10**6:
                    _subset(clip, n_intel, intel, clip.stem)
                else:
                    (intel / clip.name).symlink_to(clip)
            result["datasets"]["Intel clips"] = run_dataset(
                "intel", intel, args, modes, tmp, {}, weights, None, True)  # fmt: skip
            _save(result, args.json)
        if "ped2" in args.datasets:
            ped2 = tmp / "ped2"
            ped2.mkdir()
            for name in ("01", "04", "07", "10")[: 1 if args.quick else 4]:
                frames_dir = DATA / "ucsd_ped2" / "testing" / "frames" / name
                _subset(frames_dir, 10**6, ped2, f"ped2_{name}", fps=10.0)
            result["datasets"]["UCSD Ped2 test"] = run_dataset(
                "ped2", ped2, args, modes, tmp, {}, weights, None, False)  # fmt: skip
    _save(result, args.json)


if __name__ == "__main__":
    main()
