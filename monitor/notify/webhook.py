"""HTTP webhook notifier: POST the alert JSON, signed with HMAC-SHA256 of the exact body."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from typing import Any

from monitor.notify.base import DeliveryError
from monitor.notify.config import WebhookConfig

RETRY_STATUS = frozenset({408, 425, 429})


def sign(body: bytes, secret: str) -> str:
    """The ``X-Monitor-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of ``body``.

    Example:
        >>> sign(b"{}", "k")[:15]
        'sha256=add853b1'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs each delivery; 2xx is success, 4xx (but 408/425/429) is final, the rest retried.

    Example:
        >>> n = WebhookNotifier(WebhookConfig(name="hook", url="http://127.0.0.1:9/a"))
        >>> n.name
        'hook'
    """

    def __init__(self, cfg: WebhookConfig) -> None:
        self.cfg, self.name = cfg, cfg.name
        secret = cfg.secret.get_secret_value() if cfg.secret else None
        if cfg.secret_env:
            secret = os.environ.get(cfg.secret_env) or secret
        self._secret = secret

    def send(self, payload: dict[str, Any]) -> None:
        """POST ``payload`` as JSON with event, delivery id and signature headers."""
        body = json.dumps(payload, sort_keys=True, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "video-monitor",
            "X-Monitor-Event": str(payload.get("event", "")),
            "X-Monitor-Delivery": str(payload.get("delivery_id", "")),
            **self.cfg.headers,
        }
        if self._secret:
            headers["X-Monitor-Signature"] = sign(body, self._secret)
        req = urllib.request.Request(self.cfg.url, body, headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as err:
            final = 400 <= err.code < 500 and err.code not in RETRY_STATUS
            raise DeliveryError(f"HTTP {err.code} from webhook", retry=not final) from None
        except (OSError, ValueError) as err:  # URLError, timeouts, refused connections
            raise DeliveryError(f"webhook unreachable: {err}") from None

    def close(self) -> None:
        """Nothing to release: each send is its own connection."""
