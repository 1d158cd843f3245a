"""Config of alert delivery: notifiers (webhook, MQTT, email), their routing and retry policy.

Kept free of ``monitor.config`` so that module can import it (no import cycle); secrets are
``SecretStr`` so a run's config dump in the store shows ``**********`` instead of them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator

from monitor.schema import ConfigBase, Severity

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class NotifierBase(ConfigBase):
    """What every notifier has: a name, routing filters, rate limit and retry policy."""

    name: str = Field(
        pattern=NAME_PATTERN, description="Notifier name (unique; used in the store)."
    )
    enabled: bool = Field(True, description="Send through this notifier.")
    cameras: list[str] | None = Field(None, description="Only these cameras (None = all).")
    rules: list[str] | None = Field(None, description="Only these rule names (None = all).")
    min_severity: Severity = Field("info", description="Lowest severity sent.")
    rate_per_min: float = Field(
        60.0, gt=0, description="Most deliveries per minute; the rest wait (not dropped)."
    )
    max_attempts: int = Field(12, ge=1, description="Attempts before a delivery is 'failed'.")
    backoff_s: float = Field(2.0, gt=0, description="First retry delay; doubles per attempt.")
    backoff_max_s: float = Field(300.0, gt=0, description="Cap of the retry delay.")
    timeout_s: float = Field(5.0, gt=0, description="Network timeout of one attempt.")


class WebhookConfig(NotifierBase):
    """HTTP POST of a JSON body, signed with HMAC-SHA256 when a secret is set."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://", description="Receiver URL (http or https).")
    secret: SecretStr | None = Field(
        None, description="HMAC key: X-Monitor-Signature: sha256=<hex of the body>."
    )
    secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC key (instead of `secret`)."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")


class MqttConfig(NotifierBase):
    """MQTT publisher with Home Assistant discovery (paho-mqtt)."""

    type: Literal["mqtt"] = "mqtt"
    host: str = Field("127.0.0.1", description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(None, description="Broker user.")
    password: SecretStr | None = Field(None, description="Broker password.")
    client_id: str = Field("video-monitor", description="MQTT client id.")
    topic_prefix: str = Field(
        "video-monitor", description="Topics: <prefix>/<camera>/alert, <prefix>/availability."
    )
    discovery: bool = Field(True, description="Publish Home Assistant discovery configs.")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix.")
    snapshot: bool = Field(True, description="Publish the alert snapshot JPEG (image entity).")
    alert_off_s: float = Field(30.0, gt=0, description="The alert sensor turns off after this.")
    keepalive_s: int = Field(30, ge=5, description="MQTT keepalive (the last will fires after).")


class EmailConfig(NotifierBase):
    """SMTP e-mail with the snapshot attached."""

    type: Literal["email"] = "email"
    host: str = Field("127.0.0.1", description="SMTP server.")
    port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    sender: str = Field(description="From address.")
    recipients: list[str] = Field(min_length=1, description="To addresses.")
    username: str | None = Field(None, description="SMTP user.")
    password: SecretStr | None = Field(None, description="SMTP password.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS.")
    attach_snapshot: bool = Field(True, description="Attach the alert snapshot.")


NotifierConfig = Annotated[WebhookConfig | MqttConfig | EmailConfig, Field(discriminator="type")]


class CameraNotify(ConfigBase):
    """Routing of one camera: which notifiers, from which severity, for which rules."""

    enabled: bool = Field(True, description="Deliver this camera's alerts.")
    notifiers: list[str] | None = Field(None, description="Notifier names (None = all).")
    min_severity: Severity = Field("info", description="Lowest severity delivered.")
    rules: list[str] | None = Field(None, description="Rule names delivered (None = all).")


class NotifyConfig(ConfigBase):
    """Alert delivery through an outbox in the store; a worker thread sends with retries."""

    notifiers: list[NotifierConfig] = Field(default_factory=list, description="Notifiers.")
    batch: bool = Field(False, description="Deliver alerts raised by `monitor batch`.")
    live: bool = Field(True, description="Deliver alerts raised by `monitor live`.")
    min_severity: Severity = Field("info", description="Default lowest severity per camera.")
    media_base_url: str | None = Field(
        None, description="URL prefix of the media root: snapshot_url = prefix + snapshot_path."
    )
    poll_s: float = Field(0.5, gt=0, description="Worker poll interval for due deliveries.")
    drain_s: float = Field(5.0, ge=0, description="Seconds the worker may drain at shutdown.")

    @field_validator("notifiers")
    @classmethod
    def _unique_names(cls, v: list[NotifierConfig]) -> list[NotifierConfig]:
        names = [n.name for n in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"notifier names must be unique, repeated: {dupes}")
        return v

    def for_camera(self, override: dict[str, Any] | None) -> CameraNotify:
        """The routing of one camera: global defaults with its ``notify:`` dict laid over."""
        return CameraNotify.model_validate({"min_severity": self.min_severity, **(override or {})})

    def routes(self, route: CameraNotify, camera_id: str, rule: str, severity: str) -> list[str]:
        """Names of the enabled notifiers an alert goes to under ``route``."""
        if not route.enabled:
            return []
        rank = SEVERITY_RANK[severity]
        if rank < SEVERITY_RANK[route.min_severity] or (route.rules and rule not in route.rules):
            return []
        return [
            n.name
            for n in self.notifiers
            if n.enabled
            and (route.notifiers is None or n.name in route.notifiers)
            and (n.cameras is None or camera_id in n.cameras)
            and (n.rules is None or rule in n.rules)
            and rank >= SEVERITY_RANK[n.min_severity]
        ]
