"""Alert delivery: notifiers (webhook, MQTT, email), the store outbox and its delivery worker.

The sink enqueues (``Outbox.enqueue``: one insert, never a network call); the ``DeliveryWorker``
thread sends due rows with retries and per-notifier rate limits, so a slow or dead receiver
never blocks the pipeline and a pending delivery survives a restart.
"""

from __future__ import annotations

from pathlib import Path

from monitor.notify.base import DeliveryError, Notifier, alert_payload, episode_version
from monitor.notify.config import (
    CameraNotify,
    EmailConfig,
    MqttConfig,
    NotifierConfig,
    NotifyConfig,
    WebhookConfig,
)

__all__ = [
    "CameraNotify",
    "DeliveryError",
    "EmailConfig",
    "MqttConfig",
    "Notifier",
    "NotifierConfig",
    "NotifyConfig",
    "WebhookConfig",
    "alert_payload",
    "build_notifier",
    "episode_version",
]


def build_notifier(cfg: NotifierConfig, media_root: Path | None = None) -> Notifier:
    """The notifier for one config entry (``type`` picks the module)."""
    if isinstance(cfg, WebhookConfig):
        from monitor.notify.webhook import WebhookNotifier

        return WebhookNotifier(cfg)
    if isinstance(cfg, MqttConfig):
        from monitor.notify.mqtt import MqttNotifier

        return MqttNotifier(cfg, media_root)
    from monitor.notify.email import EmailNotifier

    return EmailNotifier(cfg, media_root)
