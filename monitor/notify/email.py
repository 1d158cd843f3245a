"""E-mail notifier over SMTP (optional STARTTLS and login), with the snapshot attached."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from monitor.notify.base import DeliveryError, media_file
from monitor.notify.config import EmailConfig


def compose(cfg: EmailConfig, payload: dict[str, Any], media_root: Path | None) -> EmailMessage:
    """The message of one delivery: subject names severity, rule, camera and event."""
    a = payload["alert"]
    msg = EmailMessage()
    msg["Subject"] = (
        f"[video-monitor] {a['severity']}: {a['rule']} on {a['camera_id']} ({payload['event']})"
    )
    msg["From"], msg["To"] = cfg.sender, ", ".join(cfg.recipients)
    msg["X-Monitor-Delivery"] = str(payload.get("delivery_id", ""))
    text = payload.get("explanation") or a["rule"]
    msg.set_content(f"{text}\n\n{json.dumps(payload, indent=2, default=str)}\n")
    snap = media_file(media_root, payload.get("snapshot_path"))
    if cfg.attach_snapshot and snap is not None:
        msg.add_attachment(snap.read_bytes(), maintype="image", subtype="jpeg", filename=snap.name)
    return msg


class EmailNotifier:
    """Sends one e-mail per delivery; SMTP errors and refused connections are retried."""

    def __init__(self, cfg: EmailConfig, media_root: Path | None = None) -> None:
        self.cfg, self.name, self.media_root = cfg, cfg.name, media_root

    def send(self, payload: dict[str, Any]) -> None:
        """Compose and send one message."""
        cfg = self.cfg
        msg = compose(cfg, payload, self.media_root)
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
                if cfg.starttls:
                    smtp.starttls()
                if cfg.username:
                    pw = cfg.password.get_secret_value() if cfg.password else ""
                    smtp.login(cfg.username, pw)
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as err:
            raise DeliveryError(f"SMTP login refused: {err.smtp_code}", retry=False) from None
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"SMTP send failed: {err}") from None

    def close(self) -> None:
        """Nothing to release: each send is its own connection."""
