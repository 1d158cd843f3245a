"""One-command fine-tuning for a user's camera: import, teacher-label, split, train, evaluate, register.

Each stage writes its result to ``<work>/stages/<stage>.json`` when it ends; a re-run with the same
work folder and the same footage, labels, teacher and base skips finished stages, so an
interrupted ``monitor finetune`` resumes where it stopped (training itself resumes from
ultralytics' ``last.pt``); other inputs are refused (``training.stages``). The held-out block of
each video is the last time block of its frames, preferring human-labelled frames; nothing within
``gap`` frames of it is trained on. Human labels that cover only some classes (say, people alone) are completed with
the teacher's boxes of the other classes on the training side (``training.partial_labels``), so the
default's other classes are not trained away. Review records from the dashboard's store
(``--store``) join the training split only: a rejected alert's snapshot as a hard negative
(background, no boxes), a "missed object" mark as a positive box on that snapshot, together with
the teacher's other boxes there.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.datasets import (
    frames_from_coco,
    frames_from_mot,
    frames_from_yolo,
    time_block_split,
    write_dataset,
)
from training.distill import VIDEO_SUFFIXES, FrameRef, box_of, footage_frames, iter_images
from training.gpu import torch_device
from training.labels import Box, LabeledFrame, LabelError
from training.partial_labels import complete, completion, covered_classes, key
from training.stages import check_request, read_stage, write_stage

log = logging.getLogger(__name__)

Progress = Callable[[str, float, str], None]
"""Called with (stage, fraction done 0-1, message)."""

STAGES = ("import", "teacher", "complete", "split", "before", "train", "after", "register")


@dataclass(frozen=True)
class FinetuneRequest:
    """What the user asked for (the CLI's arguments)."""

    footage: tuple[Path, ...]
    name: str
    work: Path
    labels: tuple[Path, ...] = ()
    teacher: str = "nanodet"
    base: str | None = None
    store: Path | None = None
    stride: int = 1
    epochs: int = 20
    imgsz: int | None = None  # None: the base model's own training size
    batch: int = 16
    hours: float | None = None
    teacher_conf: float = 0.35
    promote: bool = False
    models_dir: Path | None = None
    device: str = "auto"
    train_overrides: dict[str, Any] = field(default_factory=dict)


def labels_for(source: Path, labels: Path, names: Mapping[int, str]) -> list[LabeledFrame]:
    """Labelled frames of one footage path from a label file/folder (format from its name).

    Raises:
        LabelError: The labels hold no box for this footage (wrong file, frame names that match
            no image, or CVAT labels that are none of ``names``), rather than training on nothing.
    """
    from training.cvat import cvat_frames, read_cvat

    skipped: dict[str, int] = {}
    if labels.suffix == ".xml":
        cvat = read_cvat(labels, names)
        skipped = cvat.skipped
        frames = cvat_frames(source, cvat)
    elif labels.suffix == ".json":
        frames = frames_from_coco(labels, source)[0]
    elif labels.suffix == ".txt":
        frames = frames_from_mot(source, labels)
    else:
        frames = frames_from_yolo(source, labels)
    ignored = ", ".join(f"{k or '(no label)'} x{n}" for k, n in sorted(skipped.items()))
    if not any(fr.boxes for fr in frames):
        why = f"; labels not among the model's classes: {ignored}" if ignored else ""
        raise LabelError(f"{labels}: no box for a frame of {source}{why}")
    if ignored:
        log.warning("%s: boxes left out, labels not among the model's classes: %s", labels, ignored)
    return frames


def import_footage(req: FinetuneRequest, names: Mapping[int, str]) -> dict[str, Any]:
    """Stage ``import``: every footage frame (by ``stride``), human labels where given."""
    labelled: dict[tuple[str, int], LabeledFrame] = {}
    for src, lab in zip(req.footage, req.labels, strict=False):
        for fr in labels_for(src, lab, names):
            labelled[(fr.video, fr.frame)] = fr
    refs = [r for src in req.footage for r in footage_frames(src, req.stride)]
    unlabeled = [r for r in refs if (r.video, r.frame) not in labelled]
    return {
        "labelled": [_frame_json(fr) for fr in labelled.values()],
        "unlabeled": [[r.video, r.frame, str(r.image), r.from_video] for r in unlabeled],
    }


def _frame_json(fr: LabeledFrame) -> list[Any]:
    boxes = [[b.cls, b.x1, b.y1, b.x2, b.y2, b.score] for b in fr.boxes]
    return [fr.video, fr.frame, str(fr.image), fr.from_video, fr.source, boxes]


def _frame_from_json(row: Sequence[Any]) -> LabeledFrame:
    boxes = tuple(Box(int(b[0]), *map(float, b[1:6])) for b in row[5])
    return LabeledFrame(row[0], int(row[1]), Path(row[2]), boxes, row[4], bool(row[3]))


def make_teacher(teacher: str, conf: float, models_dir: Path | None = None) -> Any:
    """``nanodet`` / ``centernet`` (the COCO teachers) or any model weights / registry version."""
    from monitor.detectors import BACKENDS, create_detector

    if teacher in BACKENDS and teacher != "ultralytics":
        cfg = BACKENDS[teacher][0].model_validate({"conf": conf, "device": "cpu"})
    else:
        cfg = BACKENDS["ultralytics"][0].model_validate(
            {"weights": teacher, "conf": conf, "device": "cpu"}
        )
    if models_dir is not None and teacher not in BACKENDS:
        from monitor.registry import resolve_model

        cfg = cfg.model_copy(
            update={"weights": str(resolve_model(teacher, "detector", models_dir))}
        )
    return create_detector(cfg)


def boxes_of(dets: Any, by_name: Mapping[str, int]) -> list[Box]:
    """``Detections`` as boxes of the classes ``by_name`` knows (name -> our class id)."""
    return [
        box_of(by_name[dets.class_names[int(c)]], b, float(s))
        for b, s, c in zip(dets.xyxy, dets.confidence, dets.class_id, strict=True)
        if dets.class_names.get(int(c)) in by_name
    ]


def teacher_label(
    refs: Sequence[FrameRef],
    detector: Any,
    names: Mapping[int, str],
    progress: Progress,
    stage: str = "teacher",
) -> list[LabeledFrame]:
    """Stage ``teacher``: the teacher's boxes of the classes ``names`` has, mapped by name."""
    from monitor.types import Frame

    by_name = {v: k for k, v in names.items()}
    out = []
    for i, (ref, image) in enumerate(iter_images(refs), 1):
        [dets] = detector.detect([Frame(ref.video, ref.frame, 0.0, image)])
        boxes = tuple(boxes_of(dets, by_name))
        out.append(LabeledFrame(ref.video, ref.frame, ref.image, boxes, "teacher", ref.from_video))
        progress(stage, i / max(len(refs), 1), f"{ref.video} frame {ref.frame}")
    return out


def complete_labels(
    labelled: Sequence[LabeledFrame], detector: Any, names: Mapping[int, str], progress: Progress
) -> dict[str, list[list[Any]]]:
    """Stage ``complete``: per human-labelled frame, the teacher's boxes of the classes its video's
    labels do not cover (``training.partial_labels``), as ``key -> [cls, x1, y1, x2, y2, s]``."""
    covered = covered_classes(labelled)
    todo = [fr for fr in labelled if covered[fr.video] and set(names) - covered[fr.video]]
    taught = teacher_label([_ref(fr) for fr in todo], detector, names, progress, "complete")
    out = {}
    for fr, t in zip(todo, taught, strict=True):
        if add := completion(t.boxes, covered[fr.video]):
            out[key(fr)] = [[b.cls, b.x1, b.y1, b.x2, b.y2, b.score] for b in add]
    return out


def split_frames(
    frames: Sequence[LabeledFrame], gap: int = 10, test: float = 0.2, val: float = 0.1
) -> dict[str, list[LabeledFrame]]:
    """Time-block split; the test block is drawn from human labels when a video has them."""
    human = [fr for fr in frames if fr.source == "gt"]
    human_videos = {fr.video for fr in human}
    out: dict[str, list[LabeledFrame]] = {"train": [], "val": [], "test": []}
    for video in sorted({fr.video for fr in frames}):
        vf = sorted((fr for fr in frames if fr.video == video), key=lambda fr: fr.frame)
        if video in human_videos:
            gt = [fr for fr in vf if fr.source == "gt"]
            held = time_block_split(gt, val=0.0, test=max(test, 0.25), gap=0)["test"]
            if not held:
                raise LabelError(
                    f"{video}: {len(gt)} human-labelled frame(s) are too few to hold a test "
                    "block out of; label more frames of it, or give it no labels (teacher only)"
                )
            lo, hi = held[0].frame, held[-1].frame
            out["test"] += held
            rest = [fr for fr in vf if fr.frame < lo - gap or fr.frame > hi + gap]
            part = time_block_split(rest, val=val, test=0.0, gap=gap)
            out["train"] += part["train"]
            out["val"] += part["val"]
        else:
            part = time_block_split(vf, val=val, test=test, gap=gap)
            for s in out:
                out[s] += part[s]
    if not out["train"]:
        raise LabelError(f"no frame is left to train on out of {len(frames)} once the test block "
                         f"and {gap} frames each side of it are held out: add footage")  # fmt: skip
    return out


def evaluate_detector(
    detector: Any, frames: Sequence[LabeledFrame], names: Mapping[int, str]
) -> dict[str, Any]:
    """mAP50 / mAP50-95 through the deployed ``detect`` path, and the median ms per frame."""
    from monitor.types import Frame
    from training.evaluation import evaluate_boxes

    by_name = {v: k for k, v in names.items()}
    truth, preds, seconds = {}, {}, []
    for i, (ref, image) in enumerate(iter_images([_ref(fr) for fr in frames])):
        frame = Frame(ref.video, ref.frame, 0.0, image)
        if i == 0:
            detector.detect([frame])  # warm-up, not counted
        start = time.perf_counter()
        [dets] = detector.detect([frame])
        seconds.append(time.perf_counter() - start)
        key = f"{ref.video}_{ref.frame}"
        truth[key] = list(frames[i].boxes)
        preds[key] = boxes_of(dets, by_name)
    result = evaluate_boxes(truth, preds, dict(names))
    out = result.to_json()
    out["ms_per_frame"] = round(statistics.median(seconds) * 1000, 1) if seconds else 0.0
    return out


def _ref(fr: LabeledFrame) -> FrameRef:
    return FrameRef(fr.video, fr.frame, fr.image, fr.from_video)


def review_frames(
    store: Path, detector: Any, names: Mapping[int, str], conf: float = 0.35
) -> list[LabeledFrame]:
    """Training frames from the store's label records (see the module docstring)."""
    from monitor.store.review import ReviewStore

    by_name = {v: k for k, v in names.items()}
    media_root = store.parent
    out = []
    for rec in ReviewStore(store).label_records():
        if not rec.media_path or not (media_root / rec.media_path).is_file():
            continue
        image = media_root / rec.media_path
        frame = rec.frame_index if rec.frame_index is not None else rec.id
        if rec.kind == "false_alert":
            out.append(LabeledFrame(f"review-{rec.camera_id}", frame, image, (), "review"))
            continue
        [taught] = teacher_label([FrameRef(rec.camera_id, frame, image)], detector, names,
                                 lambda *_: None)  # fmt: skip
        boxes = [b for b in taught.boxes if b.score >= conf]
        if rec.box is not None and rec.label in by_name:
            boxes.append(Box(by_name[rec.label], *rec.box))
        out.append(LabeledFrame(f"review-{rec.camera_id}", frame, image, tuple(boxes), "review"))
    return out


def is_footage(path: Path) -> bool:
    """A video file or a folder with images (a MOT sequence folder counts)."""
    return path.suffix.lower() in VIDEO_SUFFIXES or path.is_dir()


def write_split(
    work: Path, splits: Mapping[str, Sequence[LabeledFrame]], names: Mapping[int, str]
) -> Path:
    """The YOLO dataset of the split under ``<work>/dataset``; returns its ``data.yaml``."""
    return write_dataset(work / "dataset", splits, names)


def _base_model(req: FinetuneRequest) -> tuple[str, Path, dict[int, str], int]:
    """The model to start from (the promoted detector unless ``base``): version, weights, names
    and the image size it was trained at (416 when the checkpoint does not say)."""
    from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry, resolve_model
    from monitor.runtime import configure_offline

    root = req.models_dir or DEFAULT_MODELS_DIR
    promoted = ModelRegistry(root).promoted("detector")
    version = req.base or (promoted.version if promoted else None)
    if version is None:
        raise FileNotFoundError(f"no promoted detector in {root}/registry.json: pass a base model")
    weights = resolve_model(version, "detector", root)
    configure_offline()
    from ultralytics import YOLO

    from monitor.detectors.ultralytics import trained_imgsz

    model = YOLO(str(weights))
    names = {int(k): str(v) for k, v in model.names.items()}
    return version, weights, names, trained_imgsz(model, 416)


def _detector_for(weights: Path, device: str) -> Any:
    """The evaluated model through the deployed ultralytics path (fp16 batches on a GPU)."""
    from monitor.detectors import BACKENDS, create_detector

    cfg = BACKENDS["ultralytics"][0].model_validate(
        {"weights": str(weights), "conf": 0.001, "device": torch_device(device)}
    )
    return create_detector(cfg)


def run_finetune(req: FinetuneRequest, progress: Progress) -> dict[str, Any]:
    """Run (or resume) every stage; returns the ``register`` stage result."""
    from training.trainer import result_from_run, train

    work = req.work
    work.mkdir(parents=True, exist_ok=True)
    version, weights, names, own_imgsz = _base_model(req)
    imgsz = req.imgsz or own_imgsz
    check_request(work, {
        "footage": [str(p.resolve()) for p in req.footage],
        "labels": [str(p.resolve()) for p in req.labels], "stride": req.stride,
        "teacher": req.teacher, "teacher_conf": req.teacher_conf, "base": version,
        "store": str(req.store.resolve()) if req.store else None, "imgsz": imgsz,
    })  # fmt: skip

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        done = read_stage(work, name)
        if done is not None:
            progress(name, 1.0, "done before (resumed)")
            return done
        progress(name, 0.0, "started")
        return write_stage(work, name, fn())

    imported = stage("import", lambda: import_footage(req, names))
    teacher = lambda: make_teacher(req.teacher, req.teacher_conf, req.models_dir)  # noqa: E731

    def _teach() -> list[Any]:
        refs = [FrameRef(v, f, Path(p), bool(fv)) for v, f, p, fv in imported["unlabeled"]]
        frames = teacher_label(refs, det := teacher(), names, progress)
        if req.store is not None:
            frames += review_frames(req.store, det, names, req.teacher_conf)
        return [_frame_json(fr) for fr in frames]

    taught = stage("teacher", _teach)
    labelled = [_frame_from_json(r) for r in imported["labelled"]]
    extra = stage("complete", lambda: complete_labels(labelled, teacher(), names, progress))

    def _split() -> dict[str, Any]:
        frames = labelled + [_frame_from_json(r) for r in taught]
        review = [fr for fr in frames if fr.source == "review"]
        splits = split_frames([fr for fr in frames if fr.source != "review"])
        boxes = {k: [Box(int(b[0]), *map(float, b[1:6])) for b in v] for k, v in extra.items()}
        for s in ("train", "val"):  # the held-out frames keep the human boxes alone
            splits[s] = [complete(fr, boxes) for fr in splits[s]]
        splits["train"] += review
        data = write_split(work, splits, names)
        test = [_frame_json(fr) for fr in splits["test"]]
        return {"data": str(data), "counts": {s: len(v) for s, v in splits.items()}, "test": test}

    split = stage("split", _split)
    test = [_frame_from_json(r) for r in split["test"]]
    before = stage(
        "before", lambda: evaluate_detector(_detector_for(weights, req.device), test, names)
    )

    def _train() -> dict[str, Any]:
        last = work / "runs" / req.name / "weights" / "last.pt"
        cb = lambda e, n, m: progress("train", e / max(n, 1), f"epoch {e}/{n}")  # noqa: E731
        result = train(
            split["data"], last if last.is_file() else weights, req.epochs, imgsz, req.batch,
            project=work / "runs", name=req.name, hours=req.hours, resume=last.is_file(),
            device=req.device, on_epoch=cb, **req.train_overrides,
        )  # fmt: skip
        return {"run": str(result.save_dir)}

    run = Path(stage("train", _train)["run"])
    best = run / "weights" / "best.pt"
    after = stage("after", lambda: evaluate_detector(_detector_for(best, req.device), test, names))

    def _register() -> dict[str, Any]:
        from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry
        from training.workflows import add_openvino_int8_or_log, copy_and_register

        better = after["map50"] > before["map50"]
        registry = ModelRegistry(req.models_dir or DEFAULT_MODELS_DIR)
        metrics = {"heldout_before": before, "heldout_after": after, "base": version}
        mv = copy_and_register(registry, req.name, result_from_run(run), split["data"],
                               parent=version, promote=req.promote and better, metrics=metrics)  # fmt: skip
        fast = add_openvino_int8_or_log(registry, mv.version, Path(split["data"]), imgsz)
        return {"version": mv.version, "better": better, "promoted": req.promote and better,
                "before": before, "after": after, "openvino_int8": fast}  # fmt: skip

    return stage("register", _register)  # type: ignore[no-any-return]
