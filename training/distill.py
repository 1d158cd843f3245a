"""Pseudo-labels from a teacher ensemble: NanoDet + CenterNet, flip TTA, weighted box fusion.

Each teacher runs on the frame and on its horizontal mirror; every (teacher, view) pair is one
voter, plus the MOT ``det.txt`` boxes (ACF on PETS) where a sequence has them. Voters' boxes are
fused per class with weighted box fusion (WBF, Solovyev et al. 2021): boxes are clustered greedily
by IoU with the running fused box, and a cluster's box is the score x weight weighted mean of its
members; its score is the weighted mean of each voter's best score over *all* voters, so a box
that only one voter saw scores low. The fused boxes of every frame are written to a JSONL file
(resumable: frames already written are skipped) that :mod:`training.label_repair` reads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.labels import Box

STUDENT_CLASSES: dict[int, str] = {
    0: "person",
    1: "bicycle",
    2: "car",
    3: "motorcycle",
    5: "bus",
    7: "truck",
}
"""The monitoring classes the student learns, with their COCO ids and names."""

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass(frozen=True)
class FrameRef:
    """One frame to label: a frame file, or frame ``frame`` (1-based) of a video file."""

    video: str
    frame: int
    image: Path
    from_video: bool = False


@dataclass(frozen=True)
class Voter:
    """One source of boxes for the fusion: ``(N, 4)`` xyxy, ``(N,)`` scores, ``(N,)`` COCO ids."""

    name: str
    xyxy: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    weight: float = 1.0


def box_of(cls: int, xyxy: Sequence[float] | np.ndarray, score: float = 1.0) -> Box:
    """A :class:`Box` from an ``(4,)`` xyxy row."""
    return Box(
        int(cls), float(xyxy[0]), float(xyxy[1]), float(xyxy[2]), float(xyxy[3]), float(score)
    )


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(4,)`` box with ``(M, 4)`` boxes."""
    ix1, iy1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    ix2, iy2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_box_fusion(
    voters: Sequence[Voter], iou_thr: float = 0.55, skip: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fuse the voters' boxes per class; returns xyxy ``(K, 4)``, scores, classes, vote counts.

    Args:
        voters: Box sets of the teachers (and views); weights scale their say.
        iou_thr: A box joins a cluster when its IoU with the cluster's fused box exceeds this.
        skip: Boxes scoring below this are ignored before fusion.

    Example:
        >>> a = Voter("a", np.array([[0, 0, 10, 10.0]]), np.array([0.9]), np.array([0]))
        >>> b = Voter("b", np.array([[1, 1, 11, 11.0]]), np.array([0.9]), np.array([0]))
        >>> xyxy, s, c, n = weighted_box_fusion([a, b])
        >>> xyxy.round(1).tolist(), [round(float(v), 2) for v in s], n.tolist()
        ([[0.5, 0.5, 10.5, 10.5]], [0.9], [2])
    """
    total = sum(v.weight for v in voters) or 1.0
    rows = [
        (v.xyxy[i], float(v.scores[i]), int(v.classes[i]), k, v.weight)
        for k, v in enumerate(voters)
        for i in range(len(v.scores))
        if v.scores[i] >= skip
    ]
    out_boxes, out_scores, out_cls, out_votes = [], [], [], []
    for c in sorted({r[2] for r in rows}):
        members = sorted((r for r in rows if r[2] == c), key=lambda r: -r[1])
        fused: list[np.ndarray] = []
        clusters: list[list[tuple[np.ndarray, float, int, int, float]]] = []
        for box, score, _, voter, weight in members:
            if fused:
                ious = _iou_one(box, np.asarray(fused))
                best = int(ious.argmax())
                if ious[best] > iou_thr:
                    clusters[best].append((box, score, c, voter, weight))
                    w = np.array([m[1] * m[4] for m in clusters[best]])
                    fused[best] = (np.stack([m[0] for m in clusters[best]]) * w[:, None]).sum(
                        0
                    ) / w.sum()
                    continue
            fused.append(np.asarray(box, np.float64))
            clusters.append([(box, score, c, voter, weight)])
        for box, members_c in zip(fused, clusters, strict=True):
            best_per_voter: dict[int, tuple[float, float]] = {}
            for _, score, _, voter, weight in members_c:
                if score > best_per_voter.get(voter, (0.0, 0.0))[0]:
                    best_per_voter[voter] = (score, weight)
            out_boxes.append(box)
            out_scores.append(sum(s * w for s, w in best_per_voter.values()) / total)
            out_cls.append(c)
            out_votes.append(len(best_per_voter))
    if not out_boxes:
        return (
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, int),
            np.zeros(0, int),
        )
    return (
        np.asarray(out_boxes, np.float32),
        np.asarray(out_scores, np.float32),
        np.asarray(out_cls, np.int64),
        np.asarray(out_votes, np.int64),
    )


def flip_voters(detector: Any, name: str, image: np.ndarray, weight: float) -> list[Voter]:
    """The detector's boxes on the frame and on its mirror (mapped back), as two voters."""
    from monitor.types import Frame

    width = image.shape[1]
    mirror = np.ascontiguousarray(image[:, ::-1])
    plain, flipped = detector.detect([Frame(name, 0, 0.0, image), Frame(name, 0, 0.0, mirror)])
    back = flipped.xyxy.copy()
    back[:, [0, 2]] = width - flipped.xyxy[:, [2, 0]]
    return [
        Voter(name, plain.xyxy, plain.confidence, plain.class_id, weight),
        Voter(f"{name}-flip", back, flipped.confidence, flipped.class_id, weight),
    ]


def teacher_ensemble(
    teachers: Mapping[str, float] | None = None, conf: float = 0.05, threads: int = 2
) -> dict[str, tuple[Any, float]]:
    """The teachers' detectors (low threshold, student classes only) with their fusion weights."""
    from monitor.detectors import BACKENDS

    teachers = teachers or {"nanodet": 2.0, "centernet": 1.0}
    out = {}
    for name, weight in teachers.items():
        cfg_cls, det_cls = BACKENDS[name]
        cfg = cfg_cls.model_validate(
            {
                "conf": conf,
                "iou": 0.6,
                "threads": threads,
                "device": "cpu",
                "classes": list(STUDENT_CLASSES.values()),
            }
        )
        out[name] = (det_cls(cfg), weight)
    return out


def fuse_frame(
    image: np.ndarray,
    ensemble: Mapping[str, tuple[Any, float]],
    extra: Sequence[Voter] = (),
    iou_thr: float = 0.55,
) -> list[list[float]]:
    """Fused boxes of one frame as ``[cls, x1, y1, x2, y2, score, votes]`` rows."""
    voters = [v for name, (det, w) in ensemble.items() for v in flip_voters(det, name, image, w)]
    xyxy, scores, cls, votes = weighted_box_fusion([*voters, *extra], iou_thr)
    return [
        [int(c), *map(lambda x: round(float(x), 1), b), round(float(s), 4), int(n)]
        for b, s, c, n in zip(xyxy, scores, cls, votes, strict=True)
    ]


def footage_frames(
    path: str | Path, stride: int = 1, keep: Callable[[int], bool] | None = None
) -> list[FrameRef]:
    """Every ``stride``-th frame of a video file or frame folder (MOT ``img1/`` allowed)."""
    from training.datasets import frame_images

    p = Path(path)
    name = p.stem if p.is_file() else p.name
    if p.is_file():
        import cv2

        cap = cv2.VideoCapture(str(p))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        cap.release()
        if n <= 0:
            from monitor.sources import SourceError

            raise SourceError(f"{p}: not a video OpenCV can read (no frames)")
        numbers = list(range(1, n + 1))
        refs = [FrameRef(name, f, p, True) for f in numbers]
    else:
        images = frame_images(p / "img1" if (p / "img1").is_dir() else p)
        refs = [FrameRef(name, f, img) for f, img in sorted(images.items())]
    refs = [r for r in refs if keep is None or keep(r.frame)]
    return refs[::stride]


def iter_images(refs: Sequence[FrameRef]) -> Iterator[tuple[FrameRef, np.ndarray]]:
    """Decode the frames in order; a video is read once, sequentially."""
    import cv2

    caps: dict[Path, tuple[Any, int]] = {}
    for ref in refs:
        if not ref.from_video:
            image = cv2.imread(str(ref.image))
        else:
            cap, pos = caps.get(ref.image) or (cv2.VideoCapture(str(ref.image)), 0)
            image = None
            while pos < ref.frame:
                ok, image = cap.read()
                pos += 1
                if not ok:
                    image = None
                    break
            caps[ref.image] = (cap, pos)
        if image is None:
            raise ValueError(f"{ref.image}: cannot decode frame {ref.frame}")
        yield ref, image


def acf_voter(det: Mapping[int, Sequence[Box]], frame: int, weight: float = 1.0) -> Voter:
    """The MOT ``det.txt`` boxes of one frame as a person voter."""
    boxes = det.get(frame, [])
    return Voter(
        "acf",
        np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], np.float32).reshape(-1, 4),
        np.array([b.score for b in boxes], np.float32),
        np.zeros(len(boxes), np.int64),
        weight,
    )


def label_footage(
    refs: Sequence[FrameRef],
    ensemble: Mapping[str, tuple[Any, float]],
    out: str | Path,
    acf: Mapping[int, Sequence[Box]] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Append one JSON line of fused boxes per frame to ``out``; frames already there are skipped.

    Each line: ``video``, ``frame``, ``image``, ``from_video``, ``width``, ``height``, ``boxes``
    (rows ``[coco_id, x1, y1, x2, y2, score, votes]``), ``ms`` (ensemble time).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {(r["video"], r["frame"]) for r in read_pseudo(out)} if out.is_file() else set()
    todo = [r for r in refs if (r.video, r.frame) not in done]
    with out.open("a") as fh:
        for i, (ref, image) in enumerate(iter_images(todo), 1):
            start = time.perf_counter()
            extra = [acf_voter(acf, ref.frame)] if acf is not None else []
            boxes = fuse_frame(image, ensemble, extra)
            ms = (time.perf_counter() - start) * 1000
            row = {
                "video": ref.video,
                "frame": ref.frame,
                "image": str(ref.image),
                "from_video": ref.from_video,
                "width": int(image.shape[1]),
                "height": int(image.shape[0]),
                "boxes": boxes,
                "ms": round(ms, 1),
            }
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            if progress is not None:
                progress(i, len(todo), ms)
    return out


def read_pseudo(path: str | Path) -> list[dict[str, Any]]:
    """The rows :func:`label_footage` wrote (a torn last line from a kill is ignored)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


HELD_OUT = (31, 70)
"""PETS frames kept out of every split of the student: gt 41-60 plus a 10-frame gap each side."""


def shared_footage(
    data: str | Path, strides: Mapping[str, int]
) -> list[tuple[list[FrameRef], Path | None]]:
    """The project's footage to pseudo-label, each with its MOT ``det.txt`` when it has one.

    PETS frames 31-70 (the held-out gt block 41-60 and a 10-frame gap) are never taken; PETS gt
    frames 1-30 are taken too, as their human labels replace the teachers' in the dataset.
    """
    root = Path(data)
    pets = root / "pets09_s2l1"
    out: list[tuple[list[FrameRef], Path | None]] = []
    keep = lambda f: not HELD_OUT[0] <= f <= HELD_OUT[1]  # noqa: E731
    out.append((footage_frames(pets, strides.get("pets", 2), keep), pets / "det" / "det.txt"))
    for clip in sorted((root / "ucsd_ped2" / "training" / "frames").iterdir()):
        if clip.is_dir():
            out.append((footage_frames(clip, strides.get("ped2", 8)), None))
    for video in sorted((root / "intel_sample_videos").glob("*.mp4")):
        out.append((footage_frames(video, strides.get(video.stem, strides.get("intel", 4))), None))
    return out


STUDENT_NAMES: dict[int, str] = {
    i: n
    for i, n in enumerate(
        ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck"]
    )
}
"""Dataset names: COCO ids 0-7 with COCO names, so the student's class ids are COCO's (airplane
and train are never labelled)."""


def student_frames(
    rows: Sequence[Mapping[str, Any]],
    labels: Mapping[tuple[str, int], Sequence[Box]],
    human: Mapping[str, Mapping[int, Sequence[Box]]] | None = None,
    human_classes: Collection[int] | None = None,
) -> list[Any]:
    """Training frames from the repaired pseudo-labels; ``human`` labels replace a video's frames.

    Args:
        rows: JSONL rows of :func:`label_footage` (image paths, video flags).
        labels: Repaired boxes per ``(video, frame)`` (:func:`training.label_repair.repair_rows`).
        human: ``video -> frame -> boxes`` of human labels (e.g. PETS gt); those frames are
            taken from here (source ``gt``), added when the teachers did not label them.
        human_classes: The classes the human labels cover (MOT ground truth: pedestrians only).
            On a human frame the teachers' boxes of the other classes are kept, so a parked car
            is not turned into background; None means the human labels cover every class.
    """
    from training.datasets import frame_images
    from training.labels import LabeledFrame

    human = human or {}
    out = []
    for r in rows:
        key = (str(r["video"]), int(r["frame"]))
        if key[1] in human.get(key[0], {}):
            continue
        boxes = tuple(b for b in labels.get(key, ()) if b.cls in STUDENT_CLASSES)
        out.append(
            LabeledFrame(key[0], key[1], Path(r["image"]), boxes, "teacher", bool(r["from_video"]))
        )
    for video, frames in human.items():
        folder = next((Path(r["image"]).parent for r in rows if r["video"] == video), None)
        if folder is None:
            continue
        images = frame_images(folder)
        for f, gt in frames.items():
            kept = () if human_classes is None else tuple(
                b for b in labels.get((video, f), ())
                if b.cls in STUDENT_CLASSES and b.cls not in human_classes
            )  # fmt: skip
            out.append(LabeledFrame(video, f, images[f], (*gt, *kept), "gt"))
    return out


def human_frames(
    gt: Mapping[int, Sequence[Box]], labelled: Collection[int]
) -> dict[int, list[Box]]:
    """PETS ground-truth frames to train on: all before the held-out gap, after it the labelled.

    Frames 31-70 (:data:`HELD_OUT`) are never returned. Before them every gt frame is taken (gt
    1-30, the frames the shared data has); after them only the frames the teachers labelled, so
    a full ground truth (MOT15 has all 795 frames) replaces the teachers' labels on the same
    frames instead of adding the frames between them.
    """
    return {
        f: list(boxes)
        for f, boxes in sorted(gt.items())
        if f < HELD_OUT[0] or (f > HELD_OUT[1] and f in labelled)
    }
