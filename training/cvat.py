"""CVAT XML labels ("CVAT for images 1.1" and "CVAT for video 1.1") into :class:`Box` lists.

Image tasks hold ``<image name=... width=... height=...>`` elements with ``<box label xtl ytl xbr
ybr>`` children; video tasks hold ``<track label=...>`` elements whose ``<box frame=...>`` children
are per-frame states (``outside="1"`` = the object has left: no box). Class ids follow the task's
label list (``<meta>...<labels>``), or a ``names`` mapping given by the caller (e.g. COCO ids), so
CVAT exports line up with the model's classes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from training.labels import Box, LabeledFrame, LabelError

__all__ = ["CvatLabels", "cvat_frames", "read_cvat"]


@dataclass(frozen=True)
class CvatLabels:
    """What a CVAT XML file holds.

    Args:
        images: Image file name -> boxes (image tasks).
        frames: 0-based frame index -> boxes (video tasks).
        names: Class id -> label name.
        skipped: Label name -> boxes left out because the label is not in ``names``.
    """

    images: dict[str, list[Box]] = field(default_factory=dict)
    frames: dict[int, list[Box]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _label_names(root: ET.Element) -> list[str]:
    """Label names declared in ``<meta>`` (task or project), in order."""
    return [
        name.text.strip()
        for lab in root.iter("label")
        if (name := lab.find("name")) is not None and name.text
    ]


def _box(el: ET.Element, cls: int, where: str) -> Box:
    try:
        coords = [float(el.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr")]
    except (KeyError, ValueError) as e:
        raise LabelError(f"{where}: box needs numeric xtl, ytl, xbr, ybr ({e})") from e
    try:
        return Box(cls, *coords)
    except ValueError as e:
        raise LabelError(f"{where}: {e}") from e


def read_cvat(path: str | Path, names: Mapping[int, str] | None = None) -> CvatLabels:
    """Parse a CVAT XML export; boxes keep labels by name, mapped to class ids.

    Args:
        path: ``annotations.xml``.
        names: Class id -> name to map labels onto; labels not in it are skipped. None = the
            task's own label list (ids in declaration order).

    Raises:
        LabelError: Malformed XML or a box without valid coordinates (message names the element).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise LabelError(f"{path}: not valid XML ({e})") from e
    if names is None:
        declared = _label_names(root)
        seen = [el.attrib.get("label", "") for el in root.iter() if el.tag in ("box", "track")]
        order = list(dict.fromkeys([*declared, *(s for s in seen if s)]))
        names = dict(enumerate(order))
    ids = {v: k for k, v in names.items()}
    out = CvatLabels(names=dict(names))
    for img in root.iter("image"):
        name = img.attrib.get("name")
        if not name:
            raise LabelError(f"{path}: <image id={img.attrib.get('id')}> has no name")
        boxes = out.images.setdefault(name, [])
        for el in img.iter("box"):
            if el.attrib.get("label") in ids:
                boxes.append(_box(el, ids[el.attrib["label"]], f"{path}: image {name}"))
            else:
                _skip(out, el.attrib.get("label", ""))
    for track in root.iter("track"):
        label = track.attrib.get("label")
        if label not in ids:
            _skip(out, label or "", len(list(track.iter("box"))))
            continue
        for el in track.iter("box"):
            if el.attrib.get("outside", "0") == "1":
                continue
            frame = int(el.attrib.get("frame", -1))
            if frame < 0:
                raise LabelError(f"{path}: track {track.attrib.get('id')} box has no frame")
            where = f"{path}: track {track.attrib.get('id')} frame {frame}"
            out.frames.setdefault(frame, []).append(_box(el, ids[label], where))
    return out


def _skip(out: CvatLabels, label: str, n: int = 1) -> None:
    out.skipped[label] = out.skipped.get(label, 0) + n


def cvat_frames(source: Path, cvat: CvatLabels) -> list[LabeledFrame]:
    """A CVAT video task's frames (CVAT counts from 0, our video frames from 1) or image task's."""
    from training.datasets import frame_images
    from training.distill import footage_frames

    if cvat.frames:
        refs = footage_frames(source)
        by_index = {r.frame - 1 if r.from_video else r.frame: r for r in refs}
        return [
            LabeledFrame(r.video, r.frame, r.image, tuple(cvat.frames.get(i, ())), "gt",
                         r.from_video)
            for i, r in sorted(by_index.items()) if i in cvat.frames
        ]  # fmt: skip
    folder = source / "img1" if (source / "img1").is_dir() else source
    images = {p.name: (f, p) for f, p in frame_images(folder).items()}
    return [
        LabeledFrame(source.name, images[n][0], images[n][1], tuple(b))
        for n, b in cvat.images.items()
        if n in images
    ]
