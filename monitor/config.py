"""One pydantic config tree, loaded from YAML with ``yaml.safe_load``; errors name the field path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from monitor.detectors import BACKENDS, ModelConfig
from monitor.detectors.auto import AutoConfig
from monitor.gating import PerformanceConfig
from monitor.notify.config import CameraNotify, NotifyConfig
from monitor.privacy import RedactConfig
from monitor.purge import RetentionConfig
from monitor.rules import RulesConfig
from monitor.schema import ConfigBase as _Base
from monitor.schema import ConfigError, Point, Severity
from monitor.tracking import TrackerConfig

__all__ = [
    "AnomalyConfig",
    "CameraConfig",
    "ConfigError",
    "LiveConfig",
    "ModelConfig",
    "MonitorConfig",
    "OutputsConfig",
    "ResolvedCamera",
    "RulesConfig",
    "StoreConfig",
    "TrackerConfig",
    "load_config",
    "merge_camera",
    "parse_config",
]


class AnomalyConfig(_Base):
    """Learned anomaly stage; off unless a model is given."""

    enabled: bool = Field(False, description="Run the anomaly stage.")
    model: str | None = Field(None, description="Anomaly model file or registry version.")
    severity: Severity = Field("warning", description="Severity of anomaly alerts.")
    cooldown_s: float = Field(10.0, ge=0, description="Seconds between anomaly alerts per camera.")
    threshold: float | None = Field(
        None,
        description="Alert threshold on the smoothed raw score; None = the model's calibrated one.",
    )
    sigma: float | None = Field(
        None,
        ge=0,
        description="Causal smoothing width in frames; None = the model's own (its threshold "
        "was calibrated with that width).",
    )
    evidence: bool = Field(
        True, description="Save a snapshot and an evidence heatmap with each anomaly alert."
    )


class StoreConfig(_Base):
    """Embedded SQLite store."""

    path: str | None = Field(None, description="Database file; None = <out>/monitor.db.")
    wal: bool = Field(
        True, description="Use write-ahead logging so readers never block the writer."
    )
    busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout.")


class OutputsConfig(_Base):
    """What the batch pipeline writes per input."""

    annotated_video: bool = Field(True, description="Write annotated.mp4.")
    jsonl: bool = Field(True, description="Write detections.jsonl (one object per frame).")
    snapshots: bool = Field(True, description="Save a JPEG snapshot per alert.")
    clips: bool = Field(True, description="Save a short mp4 clip around each alert.")
    clip_seconds: float = Field(3.0, ge=0, description="Seconds of video before an alert in clips.")
    video_codec: str = Field("avc1", min_length=4, max_length=4, description="FourCC for mp4.")
    video_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        "ultrafast",
        description="libx264 preset of annotated.mp4 and alert clips: ultrafast ~3.3 ms/frame at "
        "768x576 (files ~3x veryfast's, 10 ms), so encoding keeps up with detection on 2 cores.",
    )


class LiveConfig(_Base):
    """``monitor live``: health checks, publishing, metrics and retention of the live service."""

    health_interval_s: float = Field(
        5.0, gt=0, description="Seconds between camera health rows in the store."
    )
    publish_fps: float = Field(
        2.0, ge=0, description="Newest annotated frame per camera written to live/ (0 = off)."
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus metrics on 127.0.0.1:PORT (0/None = off)."
    )
    queue_size: int = Field(2, ge=1, description="Frames buffered per camera (oldest dropped).")
    open_timeout_s: float = Field(10.0, gt=0, description="Camera open timeout (then stalled).")
    read_timeout_s: float = Field(5.0, gt=0, description="Seconds without a frame = stalled.")
    learning_s: float = Field(
        10.0, ge=0, description="Warm-up after a camera comes online: picture/lag checks wait."
    )
    offline_alert_s: float = Field(
        30.0, ge=0, description="Health alert when a camera is offline/stalled this long."
    )
    frozen_alert_s: float = Field(
        20.0, gt=0, description="Health alert when the picture is unchanged this long."
    )
    dark_alert_s: float = Field(
        20.0, gt=0, description="Health alert when the view is too dark or covered this long."
    )
    dark_level: float = Field(
        25.0, ge=0, le=255, description="Mean brightness (0-255) below which a view is dark."
    )
    covered_std: float = Field(
        4.0, ge=0, description="Brightness spread below which a view is covered (uniform)."
    )
    lag_ratio: float = Field(
        0.5, gt=0, le=1, description="Lagging when processed fps < ratio x wanted fps ..."
    )
    lag_alert_s: float = Field(30.0, gt=0, description="... for this many seconds.")
    reload_poll_s: float = Field(
        2.0, gt=0, description="Seconds between checks of the config file for camera changes."
    )
    retention_days: float | None = Field(
        None, gt=0, description="Delete alert media older than this (None = keep)."
    )
    retention_gb: float | None = Field(
        None, gt=0, description="Keep alert media under this total size (None = no limit)."
    )
    retention_interval_s: float = Field(
        300.0, gt=0, description="Seconds between retention sweeps."
    )


class CameraConfig(_Base):
    """One camera: its source and what differs from the global sections (Frigate's pattern).

    ``rules`` and ``anomaly`` given here replace the global ones section by section (a camera that
    lists ``zones`` keeps the global ``lines``); what is not given is inherited.
    """

    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Camera id: letters, digits, '_', '.', '-'; used in paths and the store.",
    )
    uri: str = Field(
        description="Source: rtsp://, http(s)://, usb:N, /dev/videoN, file:PATH or a path."
    )
    fps: float | None = Field(None, gt=0, description="Frame rate when the source has none.")
    detect_fps: float | None = Field(
        None, gt=0, description="Frames per second to run detection on; None = every frame."
    )
    loop: bool = Field(False, description="Loop a file: source (for demos and tests).")
    enabled: bool = Field(True, description="Watch this camera.")
    rules: dict[str, Any] | None = Field(
        None, description="Rule sections for this camera (same shape as the global rules)."
    )
    anomaly: dict[str, Any] | None = Field(
        None, description="Anomaly settings for this camera, merged over the global ones."
    )
    privacy_masks: list[list[Point]] = Field(
        default_factory=list,
        description="Polygons blacked out in everything stored or shown for this camera.",
    )
    mask_units: Literal["px", "norm"] = Field(
        "px", description="Privacy mask coordinates in pixels or normalised 0-1."
    )
    notify: dict[str, Any] | None = Field(
        None, description="Alert routing for this camera, over the global notify defaults."
    )
    redact: RedactConfig = Field(default_factory=RedactConfig, description="Person redaction.")
    retention: RetentionConfig | None = Field(None, description="Media retention (None = live's).")

    @field_validator("privacy_masks")
    @classmethod
    def _masks_are_polygons(cls, v: list[list[Point]]) -> list[list[Point]]:
        for poly in v:
            if len(poly) < 3:
                raise ValueError("a polygon needs at least 3 points")
        return v


@dataclass(frozen=True)
class ResolvedCamera:
    """A camera with the global defaults merged in: what the pipeline and sink use."""

    id: str
    uri: str
    fps: float | None
    detect_fps: float | None
    loop: bool
    rules: RulesConfig
    anomaly: AnomalyConfig
    privacy_masks: tuple[tuple[Point, ...], ...] = ()
    mask_units: str = "px"
    notify: CameraNotify = CameraNotify()
    redact: RedactConfig = RedactConfig()
    retention: RetentionConfig = RetentionConfig()


class MonitorConfig(_Base):
    """The whole configuration."""

    cameras: list[CameraConfig] = Field(
        default_factory=list, description="Cameras to watch (monitor live); batch inputs need none."
    )
    model: ModelConfig = Field(default_factory=lambda: AutoConfig())
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)  # type: ignore[arg-type]
    rules: RulesConfig = Field(default_factory=RulesConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)  # type: ignore[arg-type]
    live: LiveConfig = Field(default_factory=LiveConfig)  # type: ignore[arg-type]
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)  # type: ignore[arg-type]
    notify: NotifyConfig = Field(default_factory=NotifyConfig)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _cameras_valid(self) -> MonitorConfig:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {dupes}")
        for k, cam in enumerate(self.cameras):
            try:
                merge_camera(self, cam)
            except ValidationError as err:
                section = {"RulesConfig": "rules", "AnomalyConfig": "anomaly"}.get(
                    err.title, "notify"
                )
                msgs = [
                    f"cameras.{k}.{section}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                    for e in err.errors()
                ]
                raise ValueError("; ".join(msgs)) from None
        return self

    def camera(self, camera_id: str) -> ResolvedCamera | None:
        """The merged config of one configured camera, None for an unconfigured one."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return merge_camera(self, cam)
        return None


def merge_camera(cfg: MonitorConfig, cam: CameraConfig) -> ResolvedCamera:
    """Global rules and anomaly settings with the camera's own sections laid over them."""
    rules = cfg.rules.model_dump(mode="python")
    rules.update(cam.rules or {})
    anomaly = {**cfg.anomaly.model_dump(mode="python"), **(cam.anomaly or {})}
    return ResolvedCamera(
        id=cam.id,
        uri=cam.uri,
        fps=cam.fps,
        detect_fps=cam.detect_fps,
        loop=cam.loop,
        rules=RulesConfig.model_validate(rules),
        anomaly=AnomalyConfig.model_validate(anomaly),
        privacy_masks=tuple(tuple(p) for p in cam.privacy_masks),
        mask_units=cam.mask_units,
        notify=cfg.notify.for_camera(cam.notify),
        redact=cam.redact,
        retention=RetentionConfig.inherit(cfg.live, cam.retention),
    )


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        parts = [str(p) for p in e["loc"]]
        if len(parts) > 1 and parts[0] == "model" and parts[1] in BACKENDS:
            del parts[1]  # the discriminator tag is not a field the user wrote
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {'.'.join(parts)}: {msg}" if parts else f"  {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any] | None, origin: str = "<config>") -> MonitorConfig:
    """Validate a dict; a ConfigError lists each bad field by its dotted path."""
    try:
        return MonitorConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(f"{origin}: invalid config\n{_format_errors(err)}") from None


def load_config(path: str | Path | None = None) -> MonitorConfig:
    """Load and validate a YAML config; None gives the built-in defaults."""
    if path is None:
        return MonitorConfig()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    return parse_config(data, str(p))
