"""Learned anomaly stage: the model (inference side), its features, explanations and the stage.

Training and evaluation live in the ``training`` wing; this package is the small runtime path.
"""

from monitor.anomaly.model import (
    CUE_NAMES,
    NORMAL_WEIGHTS,
    AnomalyModel,
    AnomalyModelError,
    causal_weights,
    load_model,
    smooth_causal,
)
from monitor.anomaly.stage import AnomalyStage, load_stage

__all__ = [
    "CUE_NAMES",
    "NORMAL_WEIGHTS",
    "AnomalyModel",
    "AnomalyModelError",
    "AnomalyStage",
    "causal_weights",
    "load_model",
    "load_stage",
    "smooth_causal",
]
