"""Live service benchmark: N cameras (PETS09 frames played in real time, 7 fps) for a fixed time.

Each camera is a ``file:`` camera on the PETS09-S2L1 frame folder, started at a different second
(``#t=``), run through the real ``LiveService`` (capture subprocesses, one batched forward for all
cameras, sink, store, health). Reports per camera: sustained processed fps, p50/p95
capture-to-result latency (capture wall time to the sink having written the frame), drop rate
(frames or detect slots lost to overload), and the process RSS at start and end. Prints a table
and writes JSON.

    python benchmarks/live_latency.py --cameras 2 --seconds 60 --json runs/live_latency.json
    python benchmarks/live_latency.py --cameras 2 --seconds 600 --detect-fps 3   # soak
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from monitor.config import parse_config  # noqa: E402
from monitor.pipeline import FrameResult  # noqa: E402
from pipelines.service import LiveService  # noqa: E402

DATA = Path(os.environ.get("MONITOR_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PETS = DATA / "pets09_s2l1"


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class TimedService(LiveService):
    """The live service, recording every frame's capture-to-result latency."""

    latencies: dict[str, list[float]]

    def _on_result(self, res: FrameResult) -> None:
        super()._on_result(res)
        lat = time.time() - res.frame.timestamp
        self.latencies.setdefault(res.frame.camera_id, []).append(lat * 1000)


def run(cameras: int, seconds: float, detect_fps: float | None, out: Path) -> dict[str, Any]:
    """Run the service and measure; returns the JSON-able results."""
    cams = [
        {"id": f"cam{k}", "uri": f"file:{PETS}#t={k * 113.0 / cameras:.1f}", "loop": True,
         "detect_fps": detect_fps}
        for k in range(cameras)
    ]  # fmt: skip
    cfg = parse_config({"cameras": cams, "model": {"classes": ["person"]},
                        "live": {"health_interval_s": 5, "publish_fps": 2}})  # fmt: skip
    service = TimedService(cfg, out)
    service.latencies = {}
    service.start()
    time.sleep(5)  # capture children up, first forwards done
    warm = {c: service.runner.stats.processed.get(c, 0) for c in service.cameras}
    drops0 = {c: service.runner.dropped(c) for c in service.cameras}
    for c in service.latencies:
        service.latencies[c].clear()
    rss_trace: list[tuple[int, float]] = []
    rss_start, t0 = rss_mb(), time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds:
        service.poll()
        if not rss_trace or elapsed - rss_trace[-1][0] >= 10:
            rss_trace.append((round(elapsed), round(rss_mb(), 1)))
        time.sleep(0.25)
    wall = time.monotonic() - t0
    stats = service.runner.stats
    per_cam = {}
    for c in service.cameras:
        done = stats.processed.get(c, 0) - warm[c]
        dropped = service.runner.dropped(c) - drops0[c]
        lat = np.asarray(service.latencies.get(c, []))
        per_cam[c] = {
            "fps": round(done / wall, 2), "frames": done, "dropped": dropped,
            "drop_rate": round(dropped / max(done + dropped, 1), 3),
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "p95_ms": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
        }  # fmt: skip
    rss_end = rss_mb()
    forwards = service.runner.forwards
    service.shutdown()
    return {
        "cameras": per_cam, "seconds": round(wall, 1), "detect_fps": detect_fps,
        "source_fps": 7.0, "forwards": forwards, "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1), "rss_trace": rss_trace,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
    }  # fmt: skip


def table(r: dict[str, Any]) -> Table:
    """The results as a rich table."""
    t = Table(title=f"monitor live: {len(r['cameras'])} cameras x {r['seconds']:.0f} s, PETS09 "
              f"at 7 fps, detect fps {r['detect_fps'] or 'every frame'}")  # fmt: skip
    for col in ("camera", "processed fps", "p50 ms", "p95 ms", "drop rate", "frames"):
        t.add_column(col)
    for cam, m in r["cameras"].items():
        t.add_row(cam, f"{m['fps']:.2f}", str(m["p50_ms"]), str(m["p95_ms"]),
                  f"{100 * m['drop_rate']:.1f} %", str(m["frames"]))  # fmt: skip
    t.caption = (f"RSS {r['rss_start_mb']:.0f} MB at start, {r['rss_end_mb']:.0f} MB at end; "
                 f"{r['forwards']} batched forwards; {r['machine']}")  # fmt: skip
    return t


def main() -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument(
        "--detect-fps", type=float, default=None, help="Per camera; default: every frame."
    )
    ap.add_argument("--json", type=Path, default=Path("runs/live_latency.json"))
    args = ap.parse_args()
    if not PETS.is_dir():
        sys.exit(f"PETS09 not found at {PETS} (set MONITOR_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.cameras, args.seconds, args.detect_fps, Path(tmp))
    Console().print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
