"""Shared fixtures: the real footage in ../shared/data (override with MONITOR_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.runtime import configure_offline

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONITOR_DATA", REPO.parent / "shared" / "data"))

configure_offline()

from tests.conftest_streams import (  # noqa: E402,F401 - stream-server fixtures for every test
    black_hole,
    ffmpeg_bin,
    mjpeg_server,
    mpegts_server,
    rtsp_ready,
    rtsp_server,
    sample_video,
)

# Helper programs the tests start as servers (run by the system python), not test modules.
collect_ignore = ["rtsp_server.py", "http_stream_server.py"]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the shared real datasets; skips only when the folder is genuinely absent."""
    if not DATA.is_dir():
        pytest.skip(f"real data folder not found: {DATA} (set MONITOR_DATA)")
    return DATA


@pytest.fixture(scope="session")
def pets_dir(data_dir: Path) -> Path:
    """PETS09-S2L1 in MOT layout (img1/, gt/gt.txt, det/det.txt)."""
    return data_dir / "pets09_s2l1"


@pytest.fixture(scope="session")
def ped2_dir(data_dir: Path) -> Path:
    """UCSD Ped2 frames and frame-level labels."""
    return data_dir / "ucsd_ped2"


def load_mot_gt(seq_dir: Path, last_frame: int = 60):
    """(Frame, Detections-with-gt-ids) for the gt frames of a MOT sequence, 7 fps timestamps."""
    import cv2
    import numpy as np

    from monitor.sources import _sequence_fps
    from monitor.types import Detections, Frame

    gt = np.loadtxt(seq_dir / "gt" / "gt.txt", delimiter=",")
    fps = _sequence_fps(seq_dir / "img1") or 7.0
    out = []
    for f in range(1, last_frame + 1):
        rows = gt[gt[:, 0] == f]
        xyxy = np.c_[rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]]
        dets = Detections(
            xyxy, np.ones(len(rows)), np.zeros(len(rows)), rows[:, 1].astype(int), {0: "person"}
        )
        image = cv2.imread(str(seq_dir / "img1" / f"{f:06d}.jpg"))
        out.append((Frame("pets", f - 1, (f - 1) / fps, image), dets))
    return out


@pytest.fixture(scope="session")
def gt_tracks(pets_dir: Path):
    """Ground-truth tracks of PETS09 frames 1-60 as tracked detections (real people, real ids)."""
    return load_mot_gt(pets_dir)


@pytest.fixture(scope="session")
def detector_weights() -> Path:
    """The project's promoted detector (trained offline on PETS09 by `monitor train`, in models/).

    MONITOR_TEST_WEIGHTS overrides it (e.g. a checkpoint under development).
    """
    from monitor.registry import resolve_model as resolve_weights

    override = os.environ.get("MONITOR_TEST_WEIGHTS")
    return resolve_weights(override)


@pytest.fixture(scope="session")
def pets_subset(pets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 1-60 of PETS09 (the gt frames) as a MOT-layout folder of symlinks, 7 fps."""
    root = tmp_path_factory.mktemp("pets_subset") / "pets60"
    (root / "img1").mkdir(parents=True)
    for f in range(1, 61):
        name = f"{f:06d}.jpg"
        (root / "img1" / name).symlink_to((pets_dir / "img1" / name).resolve())
    (root / "seqinfo.ini").write_text((pets_dir / "seqinfo.ini").read_text())
    return root
