"""MQTT notifier (paho-mqtt) with Home Assistant discovery.

Topics, with ``P`` the configured prefix: ``P/availability`` (retained ``online``; the broker
publishes ``offline`` as the last will), ``P/<camera>/alert`` (the alert JSON, QoS 1),
``P/<camera>/alert/state`` (``ON``; Home Assistant turns it off after ``alert_off_s``) and
``P/<camera>/snapshot`` (retained JPEG). Discovery makes each camera a device with an ``alert``
binary_sensor and a last-snapshot ``image`` entity.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from monitor.notify.base import DeliveryError, media_file
from monitor.notify.config import MqttConfig

log = logging.getLogger(__name__)


def discovery_configs(cfg: MqttConfig, camera_id: str) -> dict[str, dict[str, Any]]:
    """Home Assistant discovery topics and payloads for one camera (binary_sensor + image).

    Example:
        >>> sorted(discovery_configs(MqttConfig(name="ha"), "gate"))[0]
        'homeassistant/binary_sensor/video-monitor_gate/alert/config'
    """
    p, node = cfg.topic_prefix, f"{cfg.client_id}_{camera_id}"
    device = {
        "identifiers": [node],
        "name": f"Camera {camera_id}",
        "manufacturer": "video-monitor",
        "model": "video-monitor camera",
    }
    common = {"availability_topic": f"{p}/availability", "device": device}
    sensor = {
        **common,
        "name": "Alert",
        "unique_id": f"{node}_alert",
        "device_class": "motion",
        "state_topic": f"{p}/{camera_id}/alert/state",
        "payload_on": "ON",
        "payload_off": "OFF",
        "off_delay": cfg.alert_off_s,
        "json_attributes_topic": f"{p}/{camera_id}/alert",
    }
    image = {
        **common,
        "name": "Last snapshot",
        "unique_id": f"{node}_snapshot",
        "image_topic": f"{p}/{camera_id}/snapshot",
        "content_type": "image/jpeg",
    }
    d = cfg.discovery_prefix
    return {
        f"{d}/binary_sensor/{node}/alert/config": sensor,
        f"{d}/image/{node}/snapshot/config": image,
    }


class MqttNotifier:
    """Publishes alerts to a broker; connects on first send and reconnects after a failure."""

    def __init__(self, cfg: MqttConfig, media_root: Path | None = None) -> None:
        self.cfg, self.name, self.media_root = cfg, cfg.name, media_root
        self._client: Any = None
        self._connected = threading.Event()
        self._announced: set[str] = set()

    def _connect(self) -> Any:
        import paho.mqtt.client as mqtt

        cfg = self.cfg
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id)
        if cfg.username:
            pw = cfg.password.get_secret_value() if cfg.password else None
            client.username_pw_set(cfg.username, pw)
        avail = f"{cfg.topic_prefix}/availability"
        client.will_set(avail, "offline", qos=1, retain=True)
        client.on_connect = lambda c, *_a: self._connected.set()
        client.on_disconnect = lambda c, *_a: self._connected.clear()
        try:
            client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        except OSError as err:
            raise DeliveryError(f"MQTT broker {cfg.host}:{cfg.port} unreachable: {err}") from None
        client.loop_start()
        if not self._connected.wait(cfg.timeout_s):
            client.loop_stop()
            raise DeliveryError("MQTT broker did not accept the connection in time")
        self._publish(client, avail, "online", retain=True)
        self._announced.clear()
        return client

    def _publish(self, client: Any, topic: str, payload: Any, retain: bool = False) -> None:
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(self.cfg.timeout_s)
        if not info.is_published():
            raise DeliveryError(f"MQTT publish to {topic} not acknowledged (rc={info.rc})")

    def send(self, payload: dict[str, Any]) -> None:
        """Publish discovery (once per camera and connection), the alert, state and snapshot."""
        if self._client is None or not self._connected.is_set():
            self.close_quietly()
            self._client = self._connect()
        client, cfg = self._client, self.cfg
        camera = str(payload["alert"]["camera_id"])
        try:
            if cfg.discovery and camera not in self._announced:
                for topic, conf in discovery_configs(cfg, camera).items():
                    self._publish(client, topic, json.dumps(conf), retain=True)
                self._announced.add(camera)
            base = f"{cfg.topic_prefix}/{camera}"
            self._publish(client, f"{base}/alert", json.dumps(payload, default=str))
            self._publish(client, f"{base}/alert/state", "ON")
            snap = media_file(self.media_root, payload.get("snapshot_path"))
            if cfg.snapshot and snap is not None:
                self._publish(client, f"{base}/snapshot", snap.read_bytes(), retain=True)
        except (RuntimeError, ValueError, OSError) as err:
            self.close_quietly()
            raise DeliveryError(f"MQTT publish failed: {err}") from None

    def close_quietly(self) -> None:
        """Drop the connection without the 'offline' message (a reconnect follows)."""
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None
        self._connected.clear()

    def close(self) -> None:
        """Publish retained 'offline' and disconnect (a crash leaves it to the last will)."""
        if self._client is not None and self._connected.is_set():
            try:
                self._publish(
                    self._client, f"{self.cfg.topic_prefix}/availability", "offline", True
                )
            except DeliveryError as err:
                log.warning("mqtt %s: could not publish offline: %s", self.name, err)
        self.close_quietly()
