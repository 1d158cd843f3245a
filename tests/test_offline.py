"""Nothing phones home: libraries that check for updates or send usage telemetry are kept quiet.

Each probe runs in a fresh interpreter (the libraries act at import) with a spy on name lookups
(every HTTP client resolves its host first) and an empty HOME, the way a user's first run starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SPY = """
import socket
opened = []
_resolve = socket.getaddrinfo
def spy(host, *a, **k):
    if str(host) not in ("localhost", "127.0.0.1", "::1"):
        opened.append(str(host))
        raise OSError("offline")
    return _resolve(host, *a, **k)
socket.getaddrinfo = spy
"""


def _probe(code: str, home: Path) -> str:
    quiet = ("NO_ALBUMENTATIONS_UPDATE", "OPENVINO_TELEMETRY_OPT_OUT", "CI")
    env = {k: v for k, v in os.environ.items() if k not in quiet} | {"HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", SPY + code], capture_output=True, text=True, env=env,
        cwd=home, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_camera_augmentations_ask_no_server(tmp_path: Path) -> None:
    """albumentations asks pypi.org for its newest version at import unless told not to."""
    code = (
        "from training.camera_augment import camera_augmentations\n"
        "assert camera_augmentations()\n"
        "print('OPENED', opened)\n"
    )
    assert "OPENED []" in _probe(code, tmp_path)


def test_openvino_and_nncf_start_no_telemetry(tmp_path: Path) -> None:
    """``import openvino`` writes a Google Analytics client id to ~/intel and NNCF's quantize sends
    events, unless a consent file says no; the OpenVINO backend and the INT8 export block both."""
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    code = (
        "from monitor.detectors.openvino import OpenVinoConfig, OpenVinoDetector\n"
        "det = OpenVinoDetector(OpenVinoConfig(precision='int8', device='cpu'))\n"
        "import nncf\n"
        "from nncf.telemetry import telemetry\n"
        "print('NNCF', type(telemetry).__name__, 'OPENED', opened)\n"
    )
    assert "NNCF MagicMock OPENED []" in _probe(code, tmp_path)
    assert not (tmp_path / "intel").exists(), sorted((tmp_path / "intel").iterdir())


def test_training_and_evaluation_ask_no_server(tmp_path: Path, pets_dir: Path) -> None:
    """One epoch of ``train`` (camera augmentation on) and an ``evaluate``: ultralytics checks a
    font on GitHub for every dataset it opens unless kept local."""
    from training.workflows import MotPlan, build_mot_dataset

    data = build_mot_dataset(
        pets_dir, tmp_path / "ds", MotPlan(teacher=(71, 110), teacher_stride=4)
    )
    code = (
        "from monitor.registry import ModelRegistry\n"
        "from training.trainer import evaluate, train\n"
        "reg = ModelRegistry()\n"
        "model = reg.resolve_path(reg.promoted())\n"
        f"res = train({str(data)!r}, model, epochs=1, imgsz=128, batch=4, project='runs')\n"
        f"ev = evaluate(res.best, {str(data)!r}, 'test', imgsz=128)\n"
        "print('OPENED', opened)\n"
    )
    assert "OPENED []" in _probe(code, tmp_path)
