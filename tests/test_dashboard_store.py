"""The dashboard's store access: accounts, sessions, lock-out, reviews, label records, queries."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from monitor.store import Store, StoreReader
from monitor.store.analytics import Analytics
from monitor.store.queries import AlertFilter, AlertQuery
from monitor.store.review import ReviewStore
from monitor.store.users import LoginPolicy, UserStore, hash_password, verify_password
from monitor.types import Alert

PW = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.db"
    store = Store(path)
    store.begin_run("run1", "batch", {})
    alerts = [
        Alert(cam, kind, rule, sev, float(i), float(i) + 1, i, (i,),
              score=0.5, explanation=f"person #{i} {rule} in {cam}")
        for i, (cam, kind, rule, sev) in enumerate(
            [("gate", "zone", "door", "warning"), ("gate", "line", "entry", "info"),
             ("yard", "zone", "door", "critical"), ("yard", "crowd", "busy_50%", "warning")]
        )
    ]  # fmt: skip
    store.write_alerts(alerts, "run1")
    store.close()
    return path


def test_hash_is_salted_and_verifies() -> None:
    a, b = hash_password(PW), hash_password(PW)
    assert a != b and a.startswith("scrypt$")
    assert verify_password(PW, a) and not verify_password("nope", a)
    assert not verify_password(PW, "garbage")


def test_login_session_logout(db: Path) -> None:
    users = UserStore(db)
    users.add_user("ana", PW, "admin")
    res = users.login("ana", PW, "10.0.0.1")
    assert res.ok and res.token and res.user and res.user.is_admin
    assert users.session_user(res.token) == res.user  # a reload finds the same user
    raw = users.conn.execute("SELECT token_hash, pw_hash FROM sessions, users").fetchone()
    assert res.token not in raw[0] and PW not in raw[1]  # only hashes are stored
    users.logout(res.token)
    assert users.session_user(res.token) is None


def test_session_expires(db: Path) -> None:
    users = UserStore(db, LoginPolicy(session_max_s=0.05))
    users.add_user("ana", PW, "viewer")
    token = users.login("ana", PW, "c").token
    time.sleep(0.1)
    assert users.session_user(token) is None


@pytest.mark.parametrize(
    ("per_user", "per_client", "names", "why"),
    [(3, 100, ["ana"] * 3, "user"), (100, 3, ["x1", "x2", "x3"], "client")],
)
def test_lockout_per_user_and_per_client(db: Path, per_user, per_client, names, why) -> None:
    users = UserStore(db, LoginPolicy(max_user_failures=per_user, max_client_failures=per_client))
    users.add_user("ana", PW, "viewer")
    for name in names:
        assert not users.login(name, "wrong-password", "10.0.0.9").ok
    locked = users.login("ana", PW, "10.0.0.9")  # even the right password is refused now
    assert not locked.ok and f"this {why}" in locked.reason
    failures = users.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'login_failed'")
    assert failures.fetchone()[0] == len(names) + 1  # one audit row per failure
    if why == "user":  # another client is still refused for that user...
        assert not users.login("ana", PW, "10.0.0.10").ok
    else:  # ...while a locked client does not lock the user elsewhere
        assert users.login("ana", PW, "10.0.0.10").ok


def test_onetime_admin_needs_the_env_password(db: Path) -> None:
    users = UserStore(db)
    res = users.login("admin", "one-time", "c", onetime_password="one-time")
    assert res.ok and res.user and res.user.is_admin
    assert users.session_user(res.token, onetime_enabled=True) is not None
    assert users.session_user(res.token, onetime_enabled=False) is None
    assert not users.login("admin", "one-time", "c", onetime_password=None).ok


def test_review_writes_status_history_audit_and_labels(db: Path) -> None:
    reviews = ReviewStore(db)
    q = AlertQuery(StoreReader(db))
    first, second = (a.id for a in q.page(AlertFilter(), 0, 2))
    assert reviews.review(first, "acknowledge", "ana", "seen") == "acknowledged"
    assert reviews.review(second, "reject", "ana", "shadow, not a person") == "rejected"
    reviews.mark_missed("gate", "ana", alert_id=first, box=(1, 2, 30, 40), comment="cyclist")
    assert q.get(first).review == "acknowledged"  # type: ignore[union-attr]
    assert [h.action for h in reviews.history(second)] == ["reject"]
    labels = reviews.label_records()
    assert [(lab.kind, lab.alert_id) for lab in labels] == [
        ("false_alert", second), ("missed_object", first)
    ]  # fmt: skip
    assert labels[1].box == (1.0, 2.0, 30.0, 40.0) and labels[0].media_path is None
    audit = reviews.conn.execute("SELECT action, username, target FROM audit ORDER BY id")
    assert [tuple(r) for r in audit] == [
        ("alert_acknowledge", "ana", first), ("alert_reject", "ana", second),
        ("missed_object", "ana", first),
    ]  # fmt: skip
    stats = {s.rule: s for s in Analytics(StoreReader(db)).review_stats()}
    rule_of = {a: q.get(a).rule for a in (first, second)}  # type: ignore[union-attr]
    rejected = stats[rule_of[second]]
    same_rule = rule_of[first] == rule_of[second]  # one of two reviews rejected, or one of one
    assert rejected.rejected == 1 and rejected.false_rate == (0.5 if same_rule else 1.0)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (AlertFilter(), 4),
        (AlertFilter(cameras=("gate",)), 2),
        (AlertFilter(kinds=("zone",), severities=("critical",)), 1),
        (AlertFilter(text="busy_"), 1),  # LIKE wildcards in the search are literal
        (AlertFilter(text="50%"), 1),
        (AlertFilter(statuses=("new",)), 4),
        (AlertFilter(allowed_cameras=("yard",)), 2),
        (AlertFilter(cameras=("gate",), allowed_cameras=("yard",)), 0),
        (AlertFilter(allowed_cameras=()), 0),
    ],
)
def test_filters_count_in_sql(db: Path, flt: AlertFilter, expected: int) -> None:
    q = AlertQuery(StoreReader(db))
    assert q.count(flt) == expected == len(q.page(flt, 0, 100))


def test_csv_export_is_filtered_and_defused(db: Path) -> None:
    store = sqlite3.connect(db)
    store.execute("UPDATE alerts SET explanation = '=HYPERLINK(\"x\")' WHERE camera_id = 'yard'")
    store.commit()
    text = AlertQuery(StoreReader(db)).csv_text(AlertFilter(cameras=("yard",)))
    lines = text.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("id,camera_id")
    assert "'=HYPERLINK" in lines[1]


def test_dead_running_run_shows_interrupted(db: Path) -> None:
    runs = Analytics(StoreReader(db)).run_statuses(stale_after_s=60, now=time.time() + 3600)
    assert [s.status for s in runs] == ["interrupted"]
    assert Analytics(StoreReader(db)).run_statuses(stale_after_s=60)[0].status == "running"


def test_users_cli_creates_the_store_only_when_adding(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``users list/remove --db typo.db`` names the missing store instead of creating an empty one."""
    import io
    import sys

    from cli.main import main

    def monitor(*args: str, stdin: str = "") -> int:
        monkeypatch.setattr(sys, "argv", ["monitor", "users", *args])
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            main()
        except SystemExit as exit_:
            return int(exit_.code or 0)
        return 0

    typo = tmp_path / "monitr.db"
    for cmd in (["list"], ["remove", "ann"]):
        assert monitor(*cmd, "--db", str(typo)) == 2
        assert capsys.readouterr().err.startswith(f"error: store not found: {typo}")
        assert not typo.exists()
    assert monitor("add", "ann", "--db", str(db), "--password-stdin", stdin=PW + "\n") == 0
    capsys.readouterr()
    assert monitor("list", "--db", str(db)) == 0
    assert capsys.readouterr().out.startswith("ann\tviewer\tall cameras")
