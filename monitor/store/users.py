"""Dashboard accounts: salted scrypt hashes, server-side sessions, rate-limited logins, audit rows.

Passwords are hashed with ``hashlib.scrypt`` (standard library, memory-hard, per-user random salt),
so no extra dependency is needed. A session is a random token whose SHA-256 alone is stored: a
copy of the database cannot be replayed as a login. Every failed login writes an audit row, and
too many failures per user or per client within a window lock that user or client out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.store.schema import StoreError, connect

ROLES = ("admin", "viewer")
ONETIME_ADMIN = "(one-time admin)"  # the session name of a MONITOR_DASHBOARD_PASSWORD login
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock whom out, and for how long; how long a session lives."""

    max_user_failures: int = 5
    max_client_failures: int = 20
    window_s: float = 15 * 60
    lockout_s: float = 15 * 60
    session_idle_s: float = 8 * 3600
    session_max_s: float = 24 * 3600


@dataclass(frozen=True)
class User:
    """An account as the dashboard sees it; ``cameras`` None means every camera."""

    name: str
    role: str
    cameras: tuple[str, ...] | None = None

    @property
    def is_admin(self) -> bool:
        """True for the admin role (promote, rollback, user management)."""
        return self.role == "admin"


@dataclass(frozen=True)
class LoginResult:
    """Outcome of one login attempt: a session token, or why not."""

    ok: bool
    user: User | None = None
    token: str | None = None
    reason: str = ""


def hash_password(password: str) -> str:
    """A salted scrypt hash ``scrypt$n$r$p$salt$hash`` (base64 parts) of ``password``.

    Example:
        >>> h = hash_password("correct horse")
        >>> verify_password("correct horse", h), verify_password("wrong", h)
        (True, False)
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a hash from :func:`hash_password` (constant-time compare)."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            maxmem=_SCRYPT["maxmem"], dklen=len(want),
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


_DUMMY_HASH = hash_password(secrets.token_hex(8))  # unknown users cost the same time as known


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Accounts, sessions, login attempts and the audit trail of one store file.

    Example:
        >>> import tempfile, pathlib
        >>> from monitor.store import Store
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "m.db"
        >>> Store(db).close()
        >>> users = UserStore(db)
        >>> users.add_user("ana", "a long passphrase", "viewer")
        >>> users.login("ana", "a long passphrase", "127.0.0.1").ok
        True
    """

    def __init__(
        self, path: str | Path, policy: LoginPolicy | None = None, busy_timeout_ms: int = 5000
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"store not found: {self.path}")
        self.policy = policy or LoginPolicy()
        self.conn = connect(self.path, False, busy_timeout_ms)
        try:
            self.conn.execute("SELECT 1 FROM users LIMIT 1")
        except sqlite3.OperationalError:
            raise StoreError(
                f"{self.path} predates dashboard accounts: run `monitor users add` or "
                "`monitor dashboard` once to migrate it"
            ) from None

    def _write(self, sql: str, args: Sequence[Any]) -> None:
        with self.conn:
            self.conn.execute(sql, tuple(args))

    # accounts
    def add_user(
        self, name: str, password: str, role: str, cameras: Sequence[str] | None = None
    ) -> None:
        """Create (or replace the password, role and cameras of) an account."""
        if not _NAME.match(name):
            raise ValueError("user name: 1-64 letters, digits or _.@- only")
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if len(password) < 8:
            raise ValueError("password: at least 8 characters")
        cams = json.dumps(sorted(set(cameras))) if cameras else None
        self._write(
            "INSERT INTO users(name, role, pw_hash, cameras_json, created_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET role=excluded.role, pw_hash=excluded.pw_hash, "
            "cameras_json=excluded.cameras_json, disabled=0",
            (name, role, hash_password(password), cams, time.time()),
        )
        self.audit("(cli)", "user_set", name, {"role": role, "cameras": cameras or "all"})

    def get_user(self, name: str) -> User | None:
        """The enabled account ``name`` or None."""
        row = self.conn.execute(
            "SELECT name, role, cameras_json FROM users WHERE name = ? AND disabled = 0", (name,)
        ).fetchone()
        if row is None:
            return None
        cams = tuple(json.loads(row["cameras_json"])) if row["cameras_json"] else None
        return User(row["name"], row["role"], cams)

    def users(self) -> list[User]:
        """All enabled accounts by name."""
        names = [r[0] for r in self.conn.execute("SELECT name FROM users WHERE disabled = 0")]
        return [u for n in sorted(names) if (u := self.get_user(n)) is not None]

    def remove_user(self, name: str) -> bool:
        """Disable an account and revoke its sessions; False if there was none."""
        with self.conn:
            cur = self.conn.execute("UPDATE users SET disabled = 1 WHERE name = ?", (name,))
            self.conn.execute("UPDATE sessions SET revoked = 1 WHERE username = ?", (name,))
        return cur.rowcount > 0

    # logins
    def failures(self, column: str, value: str, now: float | None = None) -> int:
        """Failed attempts by ``username`` or ``client`` within the policy window."""
        assert column in ("username", "client")
        now = time.time() if now is None else now
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM login_attempts WHERE {column} = ? AND ok = 0 AND at >= ?",
            (value, now - self.policy.window_s),
        ).fetchone()
        return int(row[0])

    def locked(self, name: str, client: str, now: float | None = None) -> str:
        """Why ``name`` or ``client`` is locked out now ('' when neither is)."""
        now = time.time() if now is None else now
        p = self.policy
        for column, value, limit in (
            ("username", name, p.max_user_failures), ("client", client, p.max_client_failures),
        ):  # fmt: skip
            rows = self.conn.execute(
                f"SELECT at FROM login_attempts WHERE {column} = ? AND ok = 0 AND at >= ? "
                "ORDER BY at DESC LIMIT ?",
                (value, now - p.window_s - p.lockout_s, limit),
            ).fetchall()
            burst = len(rows) >= limit and rows[-1][0] >= rows[0][0] - p.window_s
            if burst and now < rows[0][0] + p.lockout_s:
                who = "user" if column == "username" else "client"
                return f"too many failed logins for this {who}"
        return ""

    def login(
        self, name: str, password: str, client: str, onetime_password: str | None = None
    ) -> LoginResult:
        """Check a password (rate-limited, audited); a new session token when it matches."""
        now = time.time()
        why = self.locked(name, client, now)
        if why:
            self._attempt(name, client, now, False, f"locked: {why}")
            return LoginResult(False, reason=f"Locked out: {why}. Try again later.")
        user = self._check(name, password, onetime_password)
        if user is None:
            self._attempt(name, client, now, False, "bad credentials")
            return LoginResult(False, reason="Unknown user or wrong password.")
        self._attempt(name, client, now, True, "")
        return LoginResult(True, user, self._new_session(user.name, client, now))

    def _check(self, name: str, password: str, onetime: str | None) -> User | None:
        named = name in ("", "admin", ONETIME_ADMIN)
        if onetime and named and hmac.compare_digest(password.encode(), onetime.encode()):
            return User(ONETIME_ADMIN, "admin")
        row = self.conn.execute(
            "SELECT pw_hash FROM users WHERE name = ? AND disabled = 0", (name,)
        ).fetchone()
        ok = verify_password(password, row[0] if row else _DUMMY_HASH)
        return self.get_user(name) if ok and row else None

    def _attempt(self, name: str, client: str, now: float, ok: bool, why: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO login_attempts(username, client, at, ok) VALUES (?,?,?,?)",
                (name, client, now, int(ok)),
            )
            self.conn.execute(
                "INSERT INTO audit(at, username, client, action, target, detail_json) "
                "VALUES (?,?,?,?,?,?)",
                (now, name, client, "login" if ok else "login_failed", name,
                 json.dumps({"reason": why} if why else {})),
            )  # fmt: skip

    # sessions
    def _new_session(self, name: str, client: str, now: float) -> str:
        token = secrets.token_urlsafe(32)
        self._write(
            "INSERT INTO sessions(token_hash, username, client, created_at, last_seen, expires_at) "
            "VALUES (?,?,?,?,?,?)",
            (_token_hash(token), name, client, now, now, now + self.policy.session_max_s),
        )
        return token

    def session_user(self, token: str | None, onetime_enabled: bool = False) -> User | None:
        """The user of a live session token (sliding idle expiry), None if absent or expired."""
        if not token or not isinstance(token, str):
            return None
        now = time.time()
        row = self.conn.execute(
            "SELECT username, last_seen, expires_at FROM sessions WHERE token_hash = ? "
            "AND revoked = 0",
            (_token_hash(token),),
        ).fetchone()
        if row is None or now > row["expires_at"]:
            return None
        if now - row["last_seen"] > self.policy.session_idle_s:
            return None
        if row["username"] == ONETIME_ADMIN:
            user: User | None = User(ONETIME_ADMIN, "admin") if onetime_enabled else None
        else:
            user = self.get_user(row["username"])
        if user is not None and now - row["last_seen"] > 60:  # at most one write a minute
            self._write(
                "UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, _token_hash(token))
            )
        return user

    def logout(self, token: str | None, client: str = "") -> None:
        """Revoke a session (the token stops working everywhere) and audit it."""
        if not token:
            return
        row = self.conn.execute(
            "SELECT username FROM sessions WHERE token_hash = ?", (_token_hash(token),)
        ).fetchone()
        self._write("UPDATE sessions SET revoked = 1 WHERE token_hash = ?", (_token_hash(token),))
        if row is not None:
            self.audit(row[0], "logout", row[0], {}, client)

    # audit
    def audit(
        self, username: str, action: str, target: str | None, detail: dict[str, Any],
        client: str = "",
    ) -> None:  # fmt: skip
        """Append one audit row (who did what to which object, when)."""
        self._write(
            "INSERT INTO audit(at, username, client, action, target, detail_json) "
            "VALUES (?,?,?,?,?,?)",
            (time.time(), username, client, action, target, json.dumps(detail, default=str)),
        )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
