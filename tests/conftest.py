"""Shared fixtures: the real footage in ../shared/data (override with MONITOR_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.runtime import configure_offline

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONITOR_DATA", REPO.parent / "shared" / "data"))

configure_offline()


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
