"""Bundled sample data: a CC BY 4.0 clip and the demo config for ``monitor demo``."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
SAMPLE_VIDEO = ASSETS_DIR / "sample.mp4"
DEMO_CONFIG = ASSETS_DIR / "demo.yaml"
