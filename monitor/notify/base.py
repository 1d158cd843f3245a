"""What every notifier shares: the send protocol, the error that says whether to retry, payloads.

A notifier gets the stored payload of one delivery (the alert as JSON, its explanation, event
``new`` / ``updated`` and episode version) and either returns or raises ``DeliveryError``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from monitor.types import Alert


class DeliveryError(RuntimeError):
    """A send failed; ``retry`` False means retrying cannot help (e.g. HTTP 400 or 401)."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class Notifier(Protocol):
    """One delivery channel; ``send`` is called from the delivery worker's thread only."""

    name: str

    def send(self, payload: dict[str, Any]) -> None:
        """Deliver one payload or raise ``DeliveryError``."""
        ...

    def close(self) -> None:
        """Release connections (the MQTT notifier publishes 'offline' first)."""
        ...


def episode_version(alert: Alert) -> int:
    """An alert's episode version: grows when people join the episode (its track ids).

    An episode that only lasts longer (later ``end_time``, same people) keeps its version, so a
    receiver hears ``updated`` when the event changes in substance, not on every frame.
    """
    return max(1, len(alert.track_ids))


def alert_payload(alert: Alert, media_base_url: str | None = None) -> dict[str, Any]:
    """The JSON body of a delivery (``event`` and ``version`` are added at enqueue time)."""

    def url(rel: str | None) -> str | None:
        return media_base_url.rstrip("/") + "/" + rel if (rel and media_base_url) else None

    return {
        "delivery_id": f"{alert.id}:{episode_version(alert)}",
        "alert": {
            "id": alert.id,
            "camera_id": alert.camera_id,
            "kind": alert.kind,
            "rule": alert.rule,
            "severity": alert.severity,
            "start_time": alert.start_time,
            "end_time": alert.end_time,
            "frame_index": alert.frame_index,
            "track_ids": list(alert.track_ids),
            "score": float(alert.score),
            "data": dict(alert.data),
        },
        "explanation": alert.explanation,
        "snapshot_path": alert.snapshot_path,
        "snapshot_url": url(alert.snapshot_path),
        "clip_path": alert.clip_path,
        "clip_url": url(alert.clip_path),
        "queued_at": time.time(),
    }


def media_file(media_root: Path | None, relative: str | None) -> Path | None:
    """A stored media file inside ``media_root`` (None if missing or escaping the root)."""
    if media_root is None or not relative or "\x00" in relative:
        return None
    base = media_root.resolve()
    target = (base / relative).resolve()
    return target if target.is_relative_to(base) and target.is_file() else None
