"""Dashboard pages (AppTest) on a store filled by a real `monitor batch` run, and on 100k rows."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from monitor.store import Store
from monitor.store.queries import AlertFilter, AlertQuery
from monitor.store.users import UserStore

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "dashboard" / "app.py")
PW = "operator passphrase"
PAGES = ("Live", "Alerts", "Timeline", "Analytics", "Models", "Runs")
CONFIG = """
model: {classes: [person], batch: 4}
rules:
  zones:
    - {name: door, polygon: [[380, 200], [460, 200], [460, 300], [380, 300]], min_frames: 3,
       cooldown_s: 2, classes: [person]}
  crowd:
    - {name: busy, max_count: 3, min_seconds: 0.5, cooldown_s: 2}
outputs: {clip_seconds: 1.0}
"""


def add_users(db: Path) -> None:
    """An admin and a viewer limited to one camera."""
    users = UserStore(db)
    users.add_user("ana", PW, "admin")
    users.add_user("vic", PW, "viewer")
    users.close()


@pytest.fixture(scope="session")
def real_store(tmp_path_factory, pets_subset: Path, detector_weights: Path) -> Path:
    """`monitor batch` once on PETS09 frames 1-60 (real detections, alerts, clips), + users."""
    from cli.main import app

    tmp = tmp_path_factory.mktemp("dash_batch")
    (tmp / "cfg.yaml").write_text(CONFIG)
    out = tmp / "out"
    args = ["batch", str(pets_subset), "--out", str(out), "--config", str(tmp / "cfg.yaml"),
            "--weights", str(detector_weights)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    db = out / "monitor.db"
    add_users(db)
    return db


def synthetic_store(db: Path, n: int = 100_000) -> Path:
    """``n`` alerts over 12 cameras and 30 days (half with live epoch times), written in one go."""
    store = Store(db)
    t0 = 1_780_000_000.0
    rows = []
    for i in range(n):
        t = t0 + (i * 25.92) % (30 * 86400)
        live = i % 2 == 0
        rows.append((
            f"a{i:06d}", "r", f"cam{i % 12:02d}", ("zone", "line", "crowd", "loitering")[i % 4],
            f"rule{i % 7}", ("info", "warning", "critical")[i // 5 % 3], t if live else 12.5,
            t if live else 13.5, i, "[1]", (i % 100) / 100, f"person #{i} near gate {i % 5}",
            "{}", None, None, None, None, t, t,
        ))  # fmt: skip
    with store.transaction() as cur:
        cur.executemany(f"INSERT INTO alerts VALUES ({','.join('?' * 19)})", rows)
    store.close()
    add_users(db)
    return db


@pytest.fixture(scope="module")
def big_store(tmp_path_factory) -> Path:
    return synthetic_store(tmp_path_factory.mktemp("dash_big") / "monitor.db")


def _app(monkeypatch, db: Path, models: Path | None = None) -> AppTest:
    monkeypatch.setenv("MONITOR_DB", str(db))
    monkeypatch.delenv("MONITOR_DASHBOARD_PASSWORD", raising=False)
    if models is not None:
        monkeypatch.setenv("MONITOR_MODELS_DIR", str(models))
    return AppTest.from_file(APP, default_timeout=120).run()


def _login(at: AppTest, name: str = "ana", password: str = PW) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def _page(at: AppTest, name: str) -> AppTest:
    return at.sidebar.radio[0].set_value(name).run()


def _count(db: Path, where: str = "1", args: tuple = ()) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM alerts WHERE {where}", args).fetchone()[0])


def test_no_users_shows_nothing(monkeypatch, tmp_path: Path) -> None:
    Store(tmp_path / "m.db").close()
    at = _app(monkeypatch, tmp_path / "m.db")
    assert "No dashboard users" in at.error[0].value
    assert len(at.text_input) == 0 and len(at.sidebar.radio) == 0


def test_every_page_renders_on_a_real_batch_store(monkeypatch, real_store: Path) -> None:
    at = _app(monkeypatch, real_store)
    at = _login(at, "ana", "wrong password")
    assert any("wrong password" in e.value for e in at.error)
    at = _login(at)
    for name in PAGES:
        at = _page(at, name)
        assert not at.exception, (name, [e.value for e in at.exception])
        assert at.header[0].value == name
    at = _page(at, "Alerts")
    total = _count(real_store)
    assert total >= 2 and at.metric[0].value == str(total)
    assert len(at.get("video")) == 1 and len(at.get("image")) >= 1  # clip and snapshot shown
    assert "Snapshot unavailable." not in [i.value for i in at.info]


def test_ack_changes_the_row_and_writes_audit(monkeypatch, tmp_path: Path, real_store: Path):
    db = tmp_path / "copy.db"
    shutil.copy(real_store, db)
    with sqlite3.connect(db) as conn:  # media stay where the real run wrote them
        root = Path(real_store).parent.resolve()
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('media_root', ?)", (str(root),))
    at = _page(_login(_app(monkeypatch, db)), "Alerts")
    alert_id = at.selectbox(key="alert_pick").value
    at.radio(key="review_action").set_value("acknowledge")
    comment = [t for t in at.text_input if t.label == "Comment"][0]
    comment.input("seen on camera")
    [b for b in at.button if b.label == "Save review"][0].click()
    at = at.run()
    assert not at.exception
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT review FROM alerts WHERE id=?", (alert_id,)).fetchone() == (
            "acknowledged",
        )
        audit = conn.execute(
            "SELECT username, action, target, detail_json FROM audit WHERE action LIKE 'alert_%'"
        ).fetchall()
    assert audit[0][:3] == ("ana", "alert_acknowledge", alert_id)
    assert json.loads(audit[0][3])["comment"] == "seen on camera"


def test_filters_and_totals_match_sql_on_100k(monkeypatch, big_store: Path) -> None:
    at = _page(_login(_app(monkeypatch, big_store)), "Alerts")
    assert at.metric[0].value == "100,000" and len(at.dataframe[0].value) == 50
    at = at.multiselect(key="f_cam").set_value(["cam03"]).run()
    assert at.metric[0].value == f"{_count(big_store, 'camera_id = ?', ('cam03',)):,}"
    at = at.multiselect(key="f_sev").set_value(["warning"]).run()
    want = _count(big_store, "camera_id = ? AND severity = ?", ("cam03", "warning"))
    assert at.metric[0].value == f"{want:,}" and 0 < want < 100_000
    at = at.text_input(key="f_text").input("gate 4").run()
    want = _count(
        big_store, "camera_id = ? AND severity = ? AND explanation LIKE ?",
        ("cam03", "warning", "%gate 4%"),
    )  # fmt: skip
    assert at.metric[0].value == f"{want:,}"
    shown = at.dataframe[0].value
    assert len(shown) == min(50, want) and set(shown["camera"]) == {"cam03"}
    at = at.number_input(key="page_no").set_value(2).run()
    assert not at.exception and len(at.dataframe[0].value) == min(50, max(0, want - 50))


def test_alerts_page_with_100k_rows_opens_fast(monkeypatch, big_store: Path) -> None:
    at = _page(_login(_app(monkeypatch, big_store)), "Alerts")
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    print(f"alerts page, 100k rows: {seconds:.2f} s")
    assert seconds < 2.0


def test_viewer_cannot_promote(monkeypatch, tmp_path: Path, real_store: Path) -> None:
    from dashboard import models
    from dashboard.state import Ctx
    from monitor.registry import ModelRegistry, ModelVersion
    from monitor.store.users import User

    reg = ModelRegistry(tmp_path / "models")
    reg.register(ModelVersion("m", "m-v1", "detector", "m1.pt"), promote=True)
    reg.register(ModelVersion("m", "m-v2", "detector", "m2.pt", parent="m-v1"))
    at = _page(_login(_app(monkeypatch, real_store, tmp_path / "models")), "Models")
    at.selectbox(key="promote_pick").set_value("m-v2")
    at = at.button(key="promote_btn").click().run()  # m2.pt is not there: refused, named
    assert not at.exception and "m2.pt are missing" in " ".join(e.value for e in at.error)
    assert reg.promoted().version == "m-v1"  # type: ignore[union-attr]
    (tmp_path / "models" / "m2.pt").write_bytes(b"weights")
    at = _page(_login(_app(monkeypatch, real_store, tmp_path / "models"), "vic"), "Models")
    assert not at.exception
    assert not [b for b in at.button if b.label in ("Promote", "Roll back")]
    viewer = Ctx(real_store, tmp_path / "models", User("vic", "viewer"), "test", None)
    with pytest.raises(PermissionError):
        models.promote(viewer, "m-v2")
    assert reg.promoted().version == "m-v1"  # type: ignore[union-attr]
    at = _page(_login(_app(monkeypatch, real_store, tmp_path / "models")), "Models")
    at.selectbox(key="promote_pick").set_value("m-v2")
    at = at.button(key="promote_btn").click().run()
    assert reg.promoted().version == "m-v2"  # type: ignore[union-attr]


def test_models_page_shows_lineage_and_merge_sources(monkeypatch, tmp_path, real_store) -> None:
    from monitor.registry import ModelRegistry, ModelVersion

    reg = ModelRegistry(tmp_path / "models")
    reg.register(ModelVersion("m", "m-v1", "detector", "m1.pt"), promote=True)
    reg.register(ModelVersion("m", "m-v2", "detector", "m2.pt", parent="m-v1"))
    merge = {"base": "m-v1", "other": "m-v2", "alpha": 0.7}
    reg.register(ModelVersion("m", "m-v3", "detector", "m3.pt", parent="m-v1",
                              train_args={"merge": merge}))  # fmt: skip
    at = _page(_login(_app(monkeypatch, real_store, tmp_path / "models")), "Models")
    assert not at.exception
    rows = at.dataframe[0].value.set_index("version")["lineage"]
    assert rows["m-v2"] == "m-v2 <- m-v1"
    assert rows["m-v3"] == "m-v3 (0.3 x m-v1 + 0.7 x m-v2) <- m-v1"


def test_lockout_after_repeated_failures(monkeypatch, real_store: Path, tmp_path: Path) -> None:
    db = tmp_path / "lock.db"
    shutil.copy(real_store, db)
    before = _count_audit(db, "login_failed")
    at = _app(monkeypatch, db)
    for _ in range(5):
        at = _login(at, "vic", "not the password")
    at = _login(at, "vic", PW)
    assert any("Locked out" in e.value for e in at.error)
    assert len(at.sidebar.radio) == 0
    assert _count_audit(db, "login_failed") - before == 6  # one audit row per failure


def _count_audit(db: Path, action: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM audit WHERE action=?", (action,)).fetchone()[0]


@pytest.mark.parametrize("bad", ["nul", "empty", "not_image", "escape"])
def test_bad_media_row_shows_placeholder(monkeypatch, tmp_path: Path, bad: str) -> None:
    db = synthetic_store(tmp_path / "m.db", n=3)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg at all")
    path = {"nul": "a\x00.jpg", "empty": "empty.jpg", "not_image": "junk.jpg",
            "escape": "../../etc/passwd"}[bad]  # fmt: skip
    label = "![x](http://example.invalid/p.png) _cam_"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE alerts SET snapshot_path=?, clip_path=?, camera_id=?, explanation=?",
            (path, path, label, label),
        )
    monkeypatch.setenv("MONITOR_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["alert"] = "a000000"
    at = _page(_login(at.run()), "Alerts")
    assert not at.exception
    infos = [i.value for i in at.info]
    assert "Snapshot unavailable." in infos and "Clip unavailable." in infos
    rendered = [e.value for e in (*at.markdown, *at.caption, *at.subheader)]
    assert not any("](http" in v and "\\]" not in v for v in rendered)  # no markdown image


def test_dashboard_never_imports_torch() -> None:
    code = (
        "import sys; sys.argv=['x'];"
        "import monitor.store, streamlit;"
        "from streamlit.testing.v1 import AppTest;"
        f"AppTest.from_file({APP!r}).run();"
        "print('torch' in sys.modules, 'ultralytics' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False False", out.stderr


def test_query_totals_use_sql_not_a_slice(big_store: Path) -> None:
    from monitor.store import StoreReader

    q = AlertQuery(StoreReader(big_store))
    flt = AlertFilter(cameras=("cam05",), statuses=("new",))
    assert q.count(flt) == _count(big_store, "camera_id='cam05'") > 1000
