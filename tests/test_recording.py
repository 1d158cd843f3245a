"""Video writers and alert clips: browser codec, frame counts, pre/post-roll, atomic files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from monitor.clips import ClipRecorder, PacketClips, clip_recorder
from monitor.recording import (
    VideoWriterError,
    is_h264,
    open_video_writer,
    partial_path,
)


def _decode(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from ``path``."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def _codec(path: Path) -> str:
    with av.open(str(path)) as box:
        return str(box.streams.video[0].codec_context.name)


def _flat(value: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A grey frame whose level encodes its index (survives lossy coding to within a few levels)."""
    return np.full((size[1], size[0], 3), value, np.uint8)


@pytest.fixture(scope="module")
def pets_frames(pets_dir: Path) -> list[np.ndarray]:
    """The first 20 real 768x576 PETS09 frames."""
    paths = sorted((pets_dir / "img1").glob("*.jpg"))[:20]
    frames = [cv2.imread(str(p)) for p in paths]
    assert all(f is not None for f in frames), "unreadable PETS frame"
    return frames  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("fourcc", "codec"),
    [("avc1", "h264"), ("h264", "h264"), ("H264", "h264"), ("mp4v", "mpeg4")],
)
def test_written_video_decodes_with_same_frames(
    tmp_path: Path, pets_frames: list[np.ndarray], fourcc: str, codec: str
) -> None:
    path = tmp_path / "out" / "annotated.mp4"
    writer = open_video_writer(path, 7.0, (768, 576), fourcc)
    for img in pets_frames:
        writer.write(img)
    writer.release()
    writer.release()  # idempotent, like OpenCV's
    decoded = _decode(path)
    assert len(decoded) == len(pets_frames)
    assert decoded[0].shape == (576, 768, 3)
    assert _codec(path) == codec
    assert not partial_path(path).exists()
    err = np.abs(decoded[5].astype(int) - pets_frames[5].astype(int)).mean()
    assert err < 6, f"decoded frame differs from the written one by {err:.1f} levels"


def test_h264_is_browser_playable_mp4(tmp_path: Path, pets_frames: list[np.ndarray]) -> None:
    path = tmp_path / "a.mp4"
    with open_video_writer(path, 10.0, (768, 576)) as writer:
        for img in pets_frames[:5]:
            writer.write(img)
    head = path.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat"), "index must come first (faststart)"
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate is not None
        assert float(stream.average_rate) == pytest.approx(10.0)


@pytest.mark.parametrize("size", [(101, 75), (64, 47), (63, 48)])
def test_odd_frame_size_is_padded_to_even(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "odd.mp4"
    writer = open_video_writer(path, 7.0, size)
    for i in range(4):
        writer.write(_flat(40 * i, size))
    writer.release()
    decoded = _decode(path)
    assert len(decoded) == 4
    assert decoded[0].shape[:2] == (size[1] + size[1] % 2, size[0] + size[0] % 2)


def test_wrong_size_frames_are_resized_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    writer = open_video_writer(path, 7.0, (64, 48))
    writer.write(_flat(100, (128, 96)))
    writer.write(np.full((48, 64), 100, np.uint8))  # greyscale
    writer.release()
    assert [f.shape for f in _decode(path)] == [(48, 64, 3)] * 2


@pytest.mark.parametrize("name", ["h264", "AVC1", "x264", " avc3 "])
def test_h264_names(name: str) -> None:
    assert is_h264(name)


def test_unknown_fourcc_raises_with_path(tmp_path: Path) -> None:
    with pytest.raises(VideoWriterError, match="v.mp4"):
        open_video_writer(tmp_path / "v.mp4", 7.0, (64, 48), "XXXX")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fourcc", ["avc1", "mp4v"])
def test_unfinished_video_is_not_under_final_name(tmp_path: Path, fourcc: str) -> None:
    path = tmp_path / "v.mp4"
    writer = open_video_writer(path, 7.0, (64, 48), fourcc)
    for i in range(10):
        writer.write(_flat(i * 20))
    assert not path.exists()
    assert partial_path(path).exists()
    writer.release()
    assert path.exists() and not partial_path(path).exists()


def test_killed_process_leaves_no_final_mp4(tmp_path: Path) -> None:
    path = tmp_path / "annotated.mp4"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        import numpy as np
        from monitor.recording import open_video_writer
        w = open_video_writer(Path({str(path)!r}), 10.0, (320, 240))
        for i in range(30):
            w.write(np.full((240, 320, 3), i * 8, np.uint8))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    assert not path.exists()
    assert partial_path(path).exists()


@pytest.mark.parametrize("fourcc", ["avc1", "mp4v"])
def test_clip_has_pre_roll_and_post_roll(tmp_path: Path, fourcc: str) -> None:
    rec = ClipRecorder(tmp_path, fps=10.0, seconds=0.5, fourcc=fourcc)  # span = 5 frames
    assert rec.span == 5
    for i in range(8):  # frames 0-7; the buffer keeps 3-7
        rec.add(_flat(10 + 15 * i))
    assert rec.start("cam/alerts/a.mp4") == "cam/alerts/a.mp4"
    clip = tmp_path / "cam" / "alerts" / "a.mp4"
    for i in range(8, 12):  # 4 of the 5 post-roll frames: still open
        rec.add(_flat(10 + 15 * i))
    assert not clip.exists()
    rec.add(_flat(10 + 15 * 12))  # 5th: the clip is finished
    assert clip.exists()
    rec.add(_flat(10 + 15 * 13))  # not in the clip
    levels = [round((float(f.mean()) - 10) / 15) for f in _decode(clip)]
    assert levels == list(range(3, 13))
    rec.close()


def test_clip_closed_early_keeps_what_it_has(tmp_path: Path) -> None:
    rec = ClipRecorder(tmp_path, fps=10.0, seconds=1.0)  # span = 10
    for i in range(3):
        rec.add(_flat(30 * i))
    rec.start("b.mp4")
    rec.add(_flat(90))
    rec.close()  # end of input
    assert len(_decode(tmp_path / "b.mp4")) == 4
    assert _codec(tmp_path / "b.mp4") == "h264"


def test_clip_start_before_any_frame_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="before any frame"):
        ClipRecorder(tmp_path, fps=10.0, seconds=1.0).start("c.mp4")


@pytest.mark.parametrize("preset", ["ultrafast", "veryfast"])
def test_packet_clips_copy_the_annotated_stream_from_a_keyframe(
    tmp_path: Path, preset: str
) -> None:
    video = open_video_writer(tmp_path / "v.mp4", 10.0, (64, 48), preset=preset, keyint=10)
    clips = clip_recorder(tmp_path, 10.0, 0.5, "avc1", preset, video)  # span = 5
    assert isinstance(clips, PacketClips)
    for i in range(30):  # the sink's order: clips, alert evidence, then the video
        clips.add(_flat(5 + 8 * i))
        if i in (0, 17, 27):
            clips.start(f"cam/alerts/{i}.mp4")
        video.write(_flat(5 + 8 * i))
    video.release()  # the encoder's last frames (veryfast holds ~10 back) reach the clips
    clips.close()
    levels = {i: [round((float(f.mean()) - 5) / 8) for f in _decode(tmp_path / "cam" / "alerts" / f"{i}.mp4")]
              for i in (0, 17, 27)}  # fmt: skip
    # 5 frames before the alert's to 5 after, from the keyframe at or before the first (0, 10, 20)
    assert levels == {0: list(range(0, 6)), 17: list(range(10, 23)), 27: list(range(20, 30))}
    for i in (0, 17, 27):
        path = tmp_path / "cam" / "alerts" / f"{i}.mp4"
        with av.open(str(path)) as box:
            stream = box.streams.video[0]
            first = next(p for p in box.demux(stream) if p.size)
            assert first.is_keyframe and stream.codec_context.name == "h264"
        assert not partial_path(path).exists()
    assert len(_decode(tmp_path / "v.mp4")) == 30


def test_packet_clip_of_a_video_cut_short_keeps_what_was_encoded(tmp_path: Path) -> None:
    video = open_video_writer(tmp_path / "v.mp4", 10.0, (64, 48), preset="veryfast", keyint=10)
    clips = clip_recorder(tmp_path, 10.0, 0.5, "avc1", "veryfast", video)  # span = 5
    for i in range(30):
        video.write(_flat(5 + 8 * i))  # veryfast holds ~10 frames back: 0-19 are out
    clips.start("late.mp4")  # frames 26-35 wanted; none has come out of the encoder
    video.abort()  # the input failed: no flush
    clips.close()
    levels = [round((float(f.mean()) - 5) / 8) for f in _decode(tmp_path / "late.mp4")]
    assert levels and levels[0] % 10 == 0 and levels == list(range(levels[0], levels[-1] + 1))


def test_clips_are_encoded_when_there_is_no_h264_video_to_copy(tmp_path: Path) -> None:
    assert isinstance(clip_recorder(tmp_path, 10.0, 1.0, "avc1", "ultrafast", None), ClipRecorder)
    mp4v = open_video_writer(tmp_path / "v.mp4", 10.0, (64, 48), "mp4v")
    assert isinstance(clip_recorder(tmp_path, 10.0, 1.0, "mp4v", "ultrafast", mp4v), ClipRecorder)
    mp4v.release()
