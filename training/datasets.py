"""Turn labelled footage into an ultralytics YOLO dataset: collect frames, sample, split, write.

Frames of one video are strongly correlated, so splits are made per video in contiguous time
blocks with a gap between them, never frame by frame: a test frame's neighbours are never trained
on. Images are symlinked (frame folders) or decoded once (video files); nothing is copied into the
repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import yaml

from monitor.sources import list_images
from training.labels import (
    Box,
    LabeledFrame,
    LabelError,
    read_coco,
    read_mot,
    read_yolo_txt,
    write_yolo_txt,
)

SPLITS = ("train", "val", "test")
DEFAULT_DATASETS_DIR = Path(
    os.environ.get("MONITOR_DATASETS_DIR", Path.home() / ".cache" / "video-monitor" / "datasets")
)


def _frame_number(path: Path) -> int:
    """The last run of digits in the file name: ``000041.jpg`` and ``cam2_000041.jpg`` -> 41."""
    found = re.findall(r"\d+", path.stem)
    if not found:
        raise ValueError(f"cannot read a frame number from file name {path.name}")
    return int(found[-1])


def frame_images(img_dir: str | Path) -> dict[int, Path]:
    """Frame number (digits of the file name, MOT style) -> image file of a frame folder."""
    img_dir = Path(img_dir)
    files = list_images(img_dir)
    if not files:
        raise FileNotFoundError(f"no images in {img_dir}")
    return {_frame_number(p): p for p in files}


def _in_range(frame: int, frames: tuple[int, int] | None) -> bool:
    return frames is None or frames[0] <= frame <= frames[1]


def frames_from_mot(
    seq_dir: str | Path,
    labels: str | Path | None = None,
    min_score: float | None = None,
    frames: tuple[int, int] | None = None,
    source: str = "gt",
) -> list[LabeledFrame]:
    """Labelled frames of a MOT sequence folder (``img1/`` plus ``gt/gt.txt`` or ``det/det.txt``).

    Args:
        seq_dir: Sequence folder, or a video file whose frames the MOT file numbers from 1.
        labels: MOT file; default ``gt/gt.txt`` inside ``seq_dir``.
        min_score: Score threshold for detector (teacher) files; None for ground truth.
        frames: Inclusive frame range to take; default from 1 to the last labelled frame.
            Frames in range with no boxes are kept as background images.
        source: ``gt`` or ``teacher``.
    """
    seq = Path(seq_dir)
    label_path = Path(labels) if labels else seq / "gt" / "gt.txt"
    boxes = read_mot(label_path, min_score=min_score)
    if not boxes:
        why = f" at score >= {min_score}" if min_score is not None else ""
        raise LabelError(f"{label_path}: no boxes{why} (a MOT file has frame,id,x,y,w,h,... lines)")
    span = frames or (1, max(boxes))
    name = seq.stem if seq.is_file() else seq.name
    if seq.is_file():
        return [
            LabeledFrame(name, f, seq, tuple(boxes.get(f, ())), source, from_video=True)
            for f in range(span[0], span[1] + 1)
        ]
    images = frame_images(seq / "img1" if (seq / "img1").is_dir() else seq)
    return [
        LabeledFrame(name, f, p, tuple(boxes.get(f, ())), source)
        for f, p in sorted(images.items())
        if _in_range(f, span)
    ]


def frames_from_yolo(
    images_dir: str | Path, labels_dir: str | Path | None = None, nc: int | None = None
) -> list[LabeledFrame]:
    """Frames of an image folder with YOLO ``.txt`` labels (same stem); no label file = background.

    ``labels_dir`` defaults to the image folder itself, or its ``images`` -> ``labels`` sibling.
    """
    from PIL import Image

    images_dir = Path(images_dir)
    if labels_dir is None:
        sibling = Path(str(images_dir).replace("images", "labels"))
        labels_dir = sibling if sibling != images_dir and sibling.is_dir() else images_dir
    elif not Path(labels_dir).is_dir():
        raise FileNotFoundError(f"YOLO labels folder not found: {labels_dir}")
    out, found = [], 0
    for f, img in sorted(frame_images(images_dir).items()):
        txt = Path(labels_dir) / f"{img.stem}.txt"
        boxes: list[Box] = []
        if txt.is_file():
            found += 1
            with Image.open(img) as im:
                w, h = im.size
            boxes = read_yolo_txt(txt, w, h, nc)
        out.append(LabeledFrame(images_dir.name, f, img, tuple(boxes)))
    if out and not found:
        raise LabelError(
            f"{labels_dir}: no YOLO label file for any image of {images_dir} "
            f"(expected e.g. {out[0].image.stem}.txt)"
        )
    return out


def frames_from_coco(
    json_path: str | Path, images_dir: str | Path
) -> tuple[list[LabeledFrame], dict[int, str]]:
    """Frames of a COCO JSON (one video per JSON, frame number from file names), class names."""
    by_file, names = read_coco(json_path)
    images_dir = Path(images_dir)
    frames = []
    for file_name, boxes in by_file.items():
        img = images_dir / file_name
        if not img.is_file():
            raise FileNotFoundError(f"{json_path}: image {file_name} not found in {images_dir}")
        frames.append(LabeledFrame(images_dir.name, _frame_number(img), img, tuple(boxes)))
    return sorted(frames, key=lambda fr: fr.frame), names


def sample(frames: Iterable[LabeledFrame], stride: int) -> list[LabeledFrame]:
    """Every ``stride``-th frame of each video (by frame number, starting at its first frame)."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    by_video: dict[str, list[LabeledFrame]] = defaultdict(list)
    for fr in frames:
        by_video[fr.video].append(fr)
    out = []
    for vid_frames in by_video.values():
        vid_frames.sort(key=lambda fr: fr.frame)
        first = vid_frames[0].frame
        out += [fr for fr in vid_frames if (fr.frame - first) % stride == 0]
    return out


def time_block_split(
    frames: Sequence[LabeledFrame],
    val: float = 0.15,
    test: float = 0.15,
    block: int | None = None,
    gap: int = 10,
    seed: int = 0,
) -> dict[str, list[LabeledFrame]]:
    """Split each video into contiguous time blocks assigned whole to train, val or test.

    Args:
        frames: Frames of one or more videos.
        val: Fraction of each video's frame span for validation. test: The same for test.
        block: Block length in frames; None = one block per split (train, then val, then test).
            With a length, blocks are dealt to splits in a seeded shuffle, keeping the fractions.
        gap: Train (and val) frames within ``gap`` frame numbers of a val or test frame are
            dropped, so no split holds a neighbour of another's frame; test blocks stay whole.
        seed: Shuffle seed for ``block`` mode.
    """
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val and test fractions must be in [0, 1) and sum < 1: {val}, {test}")
    by_video: dict[str, list[LabeledFrame]] = defaultdict(list)
    for fr in frames:
        by_video[fr.video].append(fr)
    out: dict[str, list[LabeledFrame]] = {s: [] for s in SPLITS}
    for vid_frames in by_video.values():
        vid_frames.sort(key=lambda fr: fr.frame)
        split_of = _assign_blocks([fr.frame for fr in vid_frames], val, test, block, seed)
        for s, kept in _drop_neighbours(vid_frames, split_of, gap).items():
            out[s] += kept
    return out


def _assign_blocks(
    numbers: list[int], val: float, test: float, block: int | None, seed: int
) -> dict[int, str]:
    lo, hi = numbers[0], numbers[-1]
    span = hi - lo + 1
    if block is None:
        t_start = hi + 1 - round(span * test) if test else hi + 1
        v_start = t_start - round(span * val) if val else t_start
        return {n: "test" if n >= t_start else "val" if n >= v_start else "train" for n in numbers}
    n_blocks = -(-span // block)
    n_test, n_val = round(n_blocks * test), round(n_blocks * val)
    order = list(range(n_blocks))
    random.Random(seed).shuffle(order)
    block_split = {b: "test" for b in order[:n_test]}
    block_split.update({b: "val" for b in order[n_test : n_test + n_val]})
    return {n: block_split.get((n - lo) // block, "train") for n in numbers}


def _drop_neighbours(
    frames: list[LabeledFrame], split_of: Mapping[int, str], gap: int
) -> dict[str, list[LabeledFrame]]:
    """Drop frames within ``gap`` of a frame of a higher-ranked split (test > val > train).

    Held-out blocks stay whole; the gap is cut from the training side.
    """
    rank = {"train": 0, "val": 1, "test": 2}
    numbers = sorted(split_of)
    out: dict[str, list[LabeledFrame]] = {s: [] for s in SPLITS}
    for fr in frames:
        s = split_of[fr.frame]
        near = (split_of[n] for n in numbers if abs(n - fr.frame) <= gap)
        if all(rank[other] <= rank[s] for other in near):
            out[s].append(fr)
    return out


def check_no_leak(splits: Mapping[str, Sequence[LabeledFrame]], gap: int = 0) -> None:
    """Raise ValueError when frames of two splits are within ``gap`` frames of each other."""
    seen: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for s, frames in splits.items():
        for fr in frames:
            seen[fr.video].append((fr.frame, s))
    for video, items in seen.items():
        items.sort()
        for (fa, sa), (fb, sb) in zip(items, items[1:], strict=False):
            if sa != sb and fb - fa <= gap:
                raise ValueError(f"{video}: frame {fa} ({sa}) and {fb} ({sb}) are {fb - fa} apart")


def _image_size(fr: LabeledFrame) -> tuple[int, int]:
    from PIL import Image

    with Image.open(fr.image) as im:
        return im.size


def _materialize(fr: LabeledFrame, dst: Path) -> tuple[int, int]:
    """Symlink (image file) or decode (video frame) one frame to ``dst``; returns (w, h)."""
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if not fr.from_video:
        dst.symlink_to(fr.image.resolve())
        return _image_size(fr)
    import cv2

    cap = cv2.VideoCapture(str(fr.image))
    cap.set(cv2.CAP_PROP_POS_FRAMES, fr.frame - 1)
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise ValueError(f"{fr.image}: cannot decode frame {fr.frame}")
    cv2.imwrite(str(dst), img)
    return int(img.shape[1]), int(img.shape[0])


def write_dataset(
    out_dir: str | Path,
    splits: Mapping[str, Sequence[LabeledFrame]],
    names: Mapping[int, str],
) -> Path:
    """Write ``images/<split>``, ``labels/<split>``, ``data.yaml`` and ``manifest.json``.

    Returns:
        Path of ``data.yaml``. The manifest holds per-split counts and the data fingerprint.
    """
    out = Path(out_dir).resolve()
    counts: dict[str, dict[str, int]] = {}
    for s, frames in splits.items():
        img_dir, lbl_dir = out / "images" / s, out / "labels" / s
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        n_boxes = n_bg = 0
        seen: dict[str, int] = {}
        for fr in frames:
            stem = f"{fr.video}_{fr.frame:06d}"
            # A frame listed twice in a split is oversampled: each copy gets its own file.
            seen[stem] = seen.get(stem, 0) + 1
            stem += f"_r{seen[stem] - 1}" if seen[stem] > 1 else ""
            ext = ".jpg" if fr.from_video else fr.image.suffix.lower()
            w, h = _materialize(fr, img_dir / f"{stem}{ext}")
            written = write_yolo_txt(lbl_dir / f"{stem}.txt", fr.boxes, w, h)
            n_boxes += written
            n_bg += written == 0
        counts[s] = {"images": len(frames), "boxes": n_boxes, "background": n_bg}
    data = {"path": str(out), "names": dict(names)}
    data.update({s: f"images/{s}" for s in splits})
    yaml_path = out / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    manifest = {"fingerprint": fingerprint(splits), "counts": counts, "names": dict(names)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return yaml_path


def fingerprint(splits: Mapping[str, Sequence[LabeledFrame]]) -> str:
    """Short sha256 over every split's frames and boxes: same data, same fingerprint."""
    h = hashlib.sha256()
    for s in sorted(splits):
        for fr in sorted(splits[s], key=lambda f: (f.video, f.frame)):
            boxes = ";".join(
                f"{b.cls},{b.x1:.1f},{b.y1:.1f},{b.x2:.1f},{b.y2:.1f}" for b in fr.boxes
            )
            h.update(f"{s}|{fr.video}|{fr.frame}|{fr.source}|{boxes}\n".encode())
    return h.hexdigest()[:16]


def data_yaml_file(data_yaml: str | Path) -> Path:
    """``data_yaml`` as a path; FileNotFoundError naming it when there is no such file."""
    data = Path(data_yaml)
    if not data.is_file():
        raise FileNotFoundError(f"data.yaml not found: {data}")
    return data


def split_folder(data_yaml: str | Path, split: str, purpose: str) -> Path:
    """The image folder of one split of a YOLO ``data.yaml`` (its ``path`` and ``split`` keys; a
    relative ``path`` is taken from the yaml's folder); FileNotFoundError naming the yaml, the
    split and what needed it when the yaml or the key is missing."""
    data = data_yaml_file(data_yaml)
    cfg = yaml.safe_load(data.read_text()) or {}
    if split not in cfg:
        raise FileNotFoundError(f"{data} has no '{split}' split ({purpose} needs it)")
    root = Path(cfg.get("path") or data.parent)
    return (root if root.is_absolute() else data.parent / root) / str(cfg[split])


def split_images(data_yaml: str | Path, split: str, purpose: str) -> list[Path]:
    """The image files of one split (``split_folder``); FileNotFoundError when there are none."""
    folder = split_folder(data_yaml, split, purpose)
    images = list_images(folder) if folder.is_dir() else []
    if not images:
        raise FileNotFoundError(
            f"{data_yaml}: no '{split}' images in {folder} ({purpose} needs them)"
        )
    return images


def read_manifest(data_yaml: str | Path) -> dict:
    """The manifest written beside a ``data.yaml`` (empty dict when absent)."""
    p = Path(data_yaml).parent / "manifest.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def dataset_names(data_yaml: str | Path) -> dict[int, str]:
    """Class id -> name of a YOLO ``data.yaml`` (its ``names``, a list or a mapping)."""
    data = data_yaml_file(data_yaml)
    names = (yaml.safe_load(data.read_text()) or {}).get("names")
    if not names:
        raise ValueError(f"{data} has no class 'names'")
    pairs = enumerate(names) if isinstance(names, list) else names.items()
    return {int(k): str(v) for k, v in pairs}


def split_frames(data_yaml: str | Path, split: str, purpose: str) -> list[LabeledFrame]:
    """Every image of one split with its YOLO boxes (no label file = background). Each image is
    its own ``video`` (its file stem), so two videos' frame 41 stay two frames."""
    from PIL import Image

    nc = len(dataset_names(data_yaml))
    out = []
    for i, img in enumerate(split_images(data_yaml, split, purpose)):
        txt = Path(str(img.parent).replace("images", "labels")) / f"{img.stem}.txt"
        boxes: list[Box] = []
        if txt.is_file():
            with Image.open(img) as im:
                boxes = read_yolo_txt(txt, *im.size, nc)
        out.append(LabeledFrame(img.stem, i, img, tuple(boxes), "gt"))
    return out
