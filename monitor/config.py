"""One pydantic config tree, loaded from YAML with ``yaml.safe_load``; errors name the field path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Point = tuple[float, float]
Severity = Literal["info", "warning", "critical"]


class ConfigError(ValueError):
    """A config file could not be read or did not validate; the message names file and field."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Base):
    """A video file, a folder of videos or an image-sequence folder (camera URLs come later)."""

    name: str | None = Field(None, description="Camera id; defaults to the file or folder name.")
    path: str = Field(description="Video file, folder of videos, or folder of frames (MOT img1/).")
    fps: float | None = Field(
        None, gt=0, description="Frame rate for image sequences (seqinfo.ini is read when present)."
    )


class ModelConfig(_Base):
    """Detector: weights, input size and NMS settings."""

    weights: str | None = Field(
        None,
        description="Weights path or ultralytics name; None = promoted model of models/registry.json.",
    )
    imgsz: int | None = Field(
        None, ge=32, le=4096, description="Inference size (multiple of 32); None = the model's own."
    )
    conf: float = Field(0.25, ge=0.0, le=1.0, description="Minimum detection confidence.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="NMS IoU threshold.")
    classes: list[str] | None = Field(None, description="Keep only these class names (None = all).")
    agnostic_nms: bool = Field(False, description="Class-agnostic NMS.")
    max_det: int = Field(300, ge=1, description="Maximum detections per frame after NMS.")
    device: str = Field(
        "auto", description="'auto' (cuda if available, else cpu), 'cpu', 'cuda:0'."
    )
    half: bool | None = Field(None, description="fp16 inference; None = on for cuda, off for cpu.")
    batch: int = Field(4, ge=1, le=256, description="Frames per inference batch.")

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, v: int | None) -> int | None:
        if v is not None and v % 32:
            raise ValueError(f"must be a multiple of 32, got {v}")
        return v


class TrackerConfig(_Base):
    """ultralytics tracker (ByteTrack or BoT-SORT) and its association thresholds."""

    type: Literal["botsort", "bytetrack"] = Field(
        "botsort", description="Tracker algorithm (BoT-SORT keeps ids through crossings better)."
    )
    track_high_thresh: float = Field(0.25, ge=0, le=1, description="First association threshold.")
    track_low_thresh: float = Field(0.1, ge=0, le=1, description="Second association threshold.")
    new_track_thresh: float = Field(0.25, ge=0, le=1, description="Score to start a new track.")
    track_buffer: int = Field(30, ge=1, description="Frames a lost track is kept.")
    match_thresh: float = Field(0.8, ge=0, le=1, description="IoU matching threshold.")
    fuse_score: bool = Field(True, description="Fuse confidence with IoU when matching.")


class _RuleBase(_Base):
    name: str = Field(description="Unique rule name, shown in alerts.")
    classes: list[str] | None = Field(None, description="Class names the rule applies to.")
    severity: Severity = Field("warning", description="Alert severity.")
    cooldown_s: float = Field(30.0, ge=0, description="Seconds before the rule may fire again.")


def _check_polygon(v: list[Point] | None) -> list[Point] | None:
    if v is not None and len(v) < 3:
        raise ValueError("a polygon needs at least 3 points")
    return v


class ZoneRule(_RuleBase):
    """An object's anchor (bottom centre) inside a polygon."""

    polygon: list[Point] = Field(description="Polygon vertices in pixels [[x, y], ...].")
    min_frames: int = Field(1, ge=1, description="Consecutive frames inside before alerting.")

    _poly = field_validator("polygon")(_check_polygon)


class LineRule(_RuleBase):
    """An object's anchor crossing a line segment, optionally in one direction."""

    start: Point = Field(description="Line start [x, y] in pixels.")
    end: Point = Field(description="Line end [x, y] in pixels.")
    direction: Literal["both", "left_to_right", "right_to_left"] = Field(
        "both", description="Crossing direction as seen walking from start to end."
    )


class LoiterRule(_RuleBase):
    """An object staying longer than ``seconds`` (inside ``polygon`` when given)."""

    seconds: float = Field(gt=0, description="Dwell time that counts as loitering.")
    polygon: list[Point] | None = Field(None, description="Area to watch; None = whole frame.")

    _poly = field_validator("polygon")(_check_polygon)


class CrowdRule(_RuleBase):
    """More than ``max_count`` objects at once (inside ``polygon`` when given)."""

    max_count: int = Field(ge=0, description="Alert when the count exceeds this.")
    min_seconds: float = Field(0.0, ge=0, description="Count must stay above for this long.")
    polygon: list[Point] | None = Field(None, description="Area to count in; None = whole frame.")

    _poly = field_validator("polygon")(_check_polygon)


class RulesConfig(_Base):
    """Rule-based behaviour checks, each list may be empty."""

    zones: list[ZoneRule] = Field(default_factory=list, description="Zone intrusion rules.")
    lines: list[LineRule] = Field(default_factory=list, description="Line crossing rules.")
    loitering: list[LoiterRule] = Field(default_factory=list, description="Dwell rules.")
    crowd: list[CrowdRule] = Field(default_factory=list, description="Crowd count rules.")

    @model_validator(mode="after")
    def _unique_names(self) -> RulesConfig:
        names = [
            r.name for group in (self.zones, self.lines, self.loitering, self.crowd) for r in group
        ]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique, repeated: {dupes}")
        return self


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
    video_codec: str = Field("mp4v", min_length=4, max_length=4, description="FourCC for mp4.")


class MonitorConfig(_Base):
    """The whole configuration."""

    sources: list[SourceConfig] = Field(default_factory=list, description="Inputs to process.")
    model: ModelConfig = Field(default_factory=ModelConfig)  # type: ignore[arg-type]
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)  # type: ignore[arg-type]
    rules: RulesConfig = Field(default_factory=RulesConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)  # type: ignore[arg-type]


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"  {loc}: {e['msg']}")
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
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    return parse_config(data, str(p))
