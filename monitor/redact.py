"""Credential removal for every text that may hold a source URI: the one place that knows how.

``redact`` is structural (user-info before the last ``@`` of the authority, secret query values,
percent-encoded forms); ``Scrubber`` adds the literal secrets of one known URI, so a library
message that quotes the password alone (FFmpeg does) is cleaned too.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

# Greedy to the last '@' before whitespace: a password holding '@' or '/' is swallowed whole.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s]*@")
SECRET_KEYS = (
    r"user(?:name)?|pass(?:word|wd)?|pwd|token|access_token|api_?key|key|auth|secret|sig(?:nature)?"
)
_QUERY = re.compile(rf"(?i)(?P<key>[?&;](?:{SECRET_KEYS})=)[^&#\s'\"]*")
_KEY_ONLY = re.compile(rf"(?i)^(?:{SECRET_KEYS})$")
MIN_LITERAL = 3  # shorter literal secrets would turn every message to noise


def _structural(text: str) -> str:
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    return _QUERY.sub(lambda m: m.group("key") + "***", text)


def redact(text: str) -> str:
    """``text`` with URI user-info and secret query values replaced by ``***``.

    A percent-encoded URI (``rtsp%3A%2F%2Fu%3Apw%40host``) is decoded first when that reveals a
    secret, so the encoded form cannot slip through.

    Example:
        >>> redact("rtsp://admin:p@ss/w0rd@10.0.0.5:554/s?token=abc&ch=1")
        'rtsp://***@10.0.0.5:554/s?token=***&ch=1'
    """
    out = _structural(text)
    decoded = unquote(out)
    if decoded != out:
        cleaned = _structural(decoded)
        if cleaned != decoded:
            return cleaned
    return out


def secrets_of(uri: str) -> list[str]:
    """The literal secrets one URI carries (user-info, its parts, secret query values), longest first."""
    found: set[str] = set()
    if "://" not in uri and "://" in unquote(uri):
        uri = unquote(uri)  # a wholly percent-encoded URI
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    if "@" in rest:  # the whole rest: a password may hold '/', '?' or '#'
        userinfo = rest.rsplit("@", 1)[0]
        found.update([userinfo, *userinfo.split(":", 1)])
    if "?" in uri:
        query = uri.split("?", 1)[1].split("#", 1)[0]
        found.update(v for k, v in parse_qsl(query, keep_blank_values=True) if _KEY_ONLY.match(k))
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if len(s) >= MIN_LITERAL), key=len, reverse=True)


class Scrubber:
    """Removes one URI's credentials from any text: user-info, secret query values, literals.

    Example:
        >>> Scrubber("rtsp://admin:p@ss/w0rd@cam:554/s?token=abc123").scrub(
        ...     "open rtsp://admin:p@ss/w0rd@cam:554/s?token=abc123 failed; pass p@ss/w0rd")
        'open rtsp://***@cam:554/s?token=*** failed; pass ***'
    """

    def __init__(self, uri: str) -> None:
        self._secrets = secrets_of(uri)

    def scrub(self, text: str) -> str:
        """``text`` with user-info, secret query values and this URI's secrets replaced by ***."""
        text = redact(text)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
