"""Core library of the video monitor: types, stages and the store (no UI, no CLI)."""

from monitor.types import Alert, AnomalyScore, Detections, Frame, Track

__all__ = ["Alert", "AnomalyScore", "Detections", "Frame", "Track"]
__version__ = "0.1.0"
