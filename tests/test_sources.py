"""Sources: discovery of videos and frame folders, fps, and clear errors for bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from monitor.sources import FrameSource, InputSpec, SourceError, discover_inputs


def test_mot_folder_is_one_sequence_at_its_fps(pets_dir: Path) -> None:
    [spec] = discover_inputs([pets_dir])
    assert spec.name == "pets09_s2l1" and spec.kind == "images"
    src = FrameSource.open(spec)
    assert src.fps == 7.0 and src.frame_count == 795 and src.size == (768, 576)
    frames = []
    for f in src.frames():
        frames.append(f)
        if len(frames) == 3:
            break
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[2].timestamp == pytest.approx(2 / 7)
    assert frames[0].image.shape == (576, 768, 3)


def test_ucsd_folder_of_clips_expands_to_each_clip(ped2_dir: Path) -> None:
    specs = discover_inputs([ped2_dir / "testing" / "frames"])
    assert len(specs) == 12 and len({s.name for s in specs}) == 12
    src = FrameSource.open(specs[0], fps=10)
    assert src.fps == 10 and src.frame_count == 180
    first = next(src.frames())
    assert first.image.shape == (240, 360, 3)


def _write_video(path: Path, n: int, size=(64, 48)) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), i * 10 % 255, np.uint8))
    w.release()


def test_video_file_frames_and_timestamps(tmp_path: Path) -> None:
    _write_video(tmp_path / "clip.mp4", 12)
    [spec] = discover_inputs([tmp_path / "clip.mp4"])
    src = FrameSource.open(spec)
    frames = list(src.frames())
    assert len(frames) == 12 and src.fps == pytest.approx(10)
    assert frames[-1].timestamp == pytest.approx(1.1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot open video|no decodable"),
        (b"\x00garbage" * 500, "cannot open video|no decodable"),
    ],
    ids=["empty", "corrupt"],
)
def test_bad_video_errors_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(SourceError, match=message) as exc:
        FrameSource.open(InputSpec("bad", bad, "video"))
    assert str(bad) in str(exc.value)


def test_missing_and_unplayable_inputs(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        discover_inputs([tmp_path / "nope.mp4"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="not a video"):
        discover_inputs([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no videos or image frames"):
        discover_inputs([tmp_path / "empty"])


def test_undecodable_frame_in_sequence_is_skipped_and_reported(
    tmp_path: Path, pets_dir: Path
) -> None:
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in (1, 2):
        (seq / f"{i:06d}.jpg").symlink_to(pets_dir / "img1" / f"{i:06d}.jpg")
    (seq / "000003.jpg").write_bytes(b"not a jpeg")
    src = FrameSource.open(InputSpec("seq", seq, "images"), fps=5)
    assert len(list(src.frames())) == 2
    assert len(src.skipped) == 1 and "000003.jpg" in src.skipped[0]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/s1", "rtsp://***@10.0.0.5:554/s1"),
        ("http://user@cam.local/video", "http://***@cam.local/video"),
        ("rtsp://10.0.0.5/s1", "rtsp://10.0.0.5/s1"),
        ("/data/clips/a@b.mp4", "/data/clips/a@b.mp4"),
    ],
)
def test_credentials_are_redacted(uri: str, expected: str) -> None:
    from monitor.sources import redact

    assert redact(uri) == expected
    assert "hunter2" not in redact(uri)
