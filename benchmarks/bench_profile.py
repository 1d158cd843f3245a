"""Per-stage profile of one in-process `monitor batch` run: where a frame's time goes.

Wraps the stages of a real Pipeline + OutputSink with timers (nothing in the package changes):
decode, gate (motion), pre-process, network, NMS (raw runtimes split all three; ultralytics
reports its own preprocess/inference/postprocess), track, rules, annotate, encode, write.

    python benchmarks/bench_profile.py CONFIG SEQUENCE_DIR [--overlap]  # JSON: ms/frame per stage
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import StageTimer  # noqa: E402


def _chunks(frames: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := [f for _, f in zip(range(size), frames)]:
        yield chunk


def _wrap_detector(det: Any, timer: StageTimer) -> None:
    if hasattr(det, "preprocess"):  # raw onnxruntime / OpenVINO backends
        det.preprocess = timer.wrap("pre-process", det.preprocess)
        det.infer = timer.wrap("network", det.infer)
        det.postprocess = timer.wrap("NMS+decode", det.postprocess)
        return
    predict = det.model.predict

    def split(*args: Any, **kw: Any) -> Any:
        results = predict(*args, **kw)
        for r in results:
            for key, stage in (("preprocess", "pre-process"), ("inference", "network"),
                               ("postprocess", "NMS+decode")):  # fmt: skip
                timer.ms[stage] += r.speed.get(key, 0.0)
        return results

    det.model.predict = split


def profile(config: Path, seq: Path, overlap: bool = False) -> dict[str, Any]:
    """Stage ms per frame for one input under one config; 'other' is the unattributed rest.

    ``overlap`` runs decode and the stages ahead on threads (``pipelines.overlap``): stage times
    then add up to more than the wall time, which is the point.
    """
    from monitor.config import load_config
    from monitor.pipeline import Pipeline
    from monitor.sources import FrameSource, discover_inputs
    from pipelines.sink import OutputSink

    cfg = load_config(config)
    pipeline = Pipeline.from_config(cfg)
    timer = StageTimer()
    _wrap_detector(pipeline.detector, timer)
    if pipeline.gate is not None:
        pipeline.gate.motion.detect = timer.wrap("gate (motion)", pipeline.gate.motion.detect)  # type: ignore[method-assign]
    if pipeline.tracker is not None:
        pipeline.tracker.update = timer.wrap("track", pipeline.tracker.update)  # type: ignore[method-assign]
        pipeline.tracker.predict = timer.wrap("track", pipeline.tracker.predict)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        sink = OutputSink(cfg, Path(tmp), pipeline)
        sink.annotator.annotate = timer.wrap("annotate", sink.annotator.annotate)  # type: ignore[method-assign]
        sink.begin_run("profile", "batch")
        [spec] = discover_inputs([seq])
        source = FrameSource.open(spec)
        cam = sink.open(spec.name, source.fps, source.size, files=True)
        if cam.video is not None:
            cam.video.write = timer.wrap("encode", cam.video.write)  # type: ignore[method-assign]
        first = next(iter(source.frames()))
        pipeline.detector.detect([first])  # one-time start-up (imports, allocations) not counted
        timer.ms.clear()
        t0 = time.perf_counter()
        n, rules_ms, step = 0, 0.0, timer.wrap("step", pipeline.step_batch)
        write = timer.wrap("sink total", sink.write)
        frames = timer.iterate("decode", source.frames())
        if overlap:
            from pipelines.overlap import pipelined

            pipeline.step_batch = step  # type: ignore[method-assign]
            results: Iterator[Any] = pipelined(frames, pipeline, cfg.model.batch)
        else:
            results = (r for chunk in _chunks(frames, cfg.model.batch) for r in step(chunk))
        for res in results:
            rules_ms += res.timings_ms.get("rules", 0.0)
            write(res)
            n += 1
        sink.close(spec.name)
        sink.close_all()
        total = (time.perf_counter() - t0) * 1e3
    ms = dict(timer.ms)
    ms["rules"] = rules_ms
    ms["write (jsonl, store, clips)"] = (
        ms.pop("sink total") - ms.get("annotate", 0) - ms.get("encode", 0)
    )
    step_ms = ms.pop("step")
    inside = ("gate (motion)", "pre-process", "network", "NMS+decode", "track", "rules")
    ms["other (pipeline)"] = step_ms - sum(ms.get(k, 0.0) for k in inside)
    out = {k: round(v / max(n, 1), 2) for k, v in ms.items()}
    out["total"] = round(total / max(n, 1), 2)
    stats = pipeline.gate.stats if pipeline.gate is not None else {"full": n}
    return {"frames": n, "ms_per_frame": out, "fps": round(n * 1e3 / total, 2), "gate": stats}


if __name__ == "__main__":
    from monitor.runtime import configure_offline

    configure_offline()
    print(json.dumps(profile(Path(sys.argv[1]), Path(sys.argv[2]), "--overlap" in sys.argv)))
