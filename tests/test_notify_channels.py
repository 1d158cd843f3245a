"""Alert delivery over MQTT (a real mosquitto) and email (a real aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.notify import NotifyConfig
from monitor.notify.config import EmailConfig, MqttConfig
from monitor.notify.outbox import Outbox
from tests.test_notify import free_port, live_store, make_alert, wait_for


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[int]:
    """A real mosquitto broker on 127.0.0.1 (Debian package; see .ci/system-deps.sh)."""
    exe = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    assert wait_for(up, 10), "mosquitto did not start"
    yield port
    proc.terminate()
    proc.wait(10)


def subscribe_all(port: int) -> tuple[Any, dict[str, list[bytes]]]:
    import paho.mqtt.client as mqtt

    got: dict[str, list[bytes]] = {}
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-sub")
    client.on_message = lambda c, u, m: got.setdefault(m.topic, []).append(m.payload)
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe("#", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert ready.wait(10)
    return client, got


def test_mqtt_alert_discovery_and_availability(tmp_path: Path, broker: int) -> None:
    import cv2
    import numpy as np

    store = live_store(tmp_path)
    (tmp_path / "gate" / "alerts").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "gate/alerts/a1.jpg"), np.full((48, 64, 3), 90, np.uint8))
    sub, got = subscribe_all(broker)
    mqtt_cfg = MqttConfig(name="ha", port=broker, topic_prefix="vm", backoff_s=0.2)
    outbox = Outbox(NotifyConfig(notifiers=[mqtt_cfg], poll_s=0.05), store)
    outbox.enqueue([make_alert(1, camera="gate", snapshot_path="gate/alerts/a1.jpg")], "r1")
    assert wait_for(lambda: "vm/gate/snapshot" in got)
    outbox.close()
    assert wait_for(lambda: got.get("vm/availability", [])[-1:] == [b"offline"])
    sub.loop_stop()
    sub.disconnect()
    assert got["vm/availability"][0] == b"online"
    alert = json.loads(got["vm/gate/alert"][0])
    assert alert["alert"]["id"] == "a1" and alert["event"] == "new"
    assert got["vm/gate/alert/state"] == [b"ON"]
    assert cv2.imdecode(np.frombuffer(got["vm/gate/snapshot"][0], np.uint8), 1).shape == (48, 64, 3)
    sensor = json.loads(got["homeassistant/binary_sensor/video-monitor_gate/alert/config"][0])
    image = json.loads(got["homeassistant/image/video-monitor_gate/snapshot/config"][0])
    assert sensor["state_topic"] == "vm/gate/alert/state" and sensor["payload_on"] == "ON"
    assert image["image_topic"] == "vm/gate/snapshot"
    assert sensor["device"] == image["device"] and sensor["device"]["identifiers"]
    assert sensor["availability_topic"] == "vm/availability"
    store.close()


def test_email_reaches_a_local_smtp_server(tmp_path: Path) -> None:
    pytest.importorskip("aiosmtpd", reason="aiosmtpd (dev dependency) provides the SMTP server")
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self) -> None:
            self.messages: list[tuple[list[str], bytes]] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            self.messages.append((list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        store = live_store(tmp_path)
        mail = EmailConfig(name="mail", port=port, sender="monitor@example.org",
                           recipients=["guard@example.org"])  # fmt: skip
        outbox = Outbox(NotifyConfig(notifiers=[mail], poll_s=0.05), store)
        outbox.enqueue([make_alert(3)], "r1")
        assert wait_for(lambda: len(handler.messages) == 1)
        outbox.close()
        store.close()
    finally:
        controller.stop()
    rcpt, content = handler.messages[0]
    assert rcpt == ["guard@example.org"]
    assert b"warning: door on cam (new)" in content and b"person in door (3)" in content
