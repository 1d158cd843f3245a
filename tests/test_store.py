"""SQLite store: WAL, schema version, upserts, readers beside a writer, media path safety."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from monitor.store import SCHEMA_VERSION, Store, StoreError, StoreReader, resolve_media
from monitor.types import Alert


def _alert(**kw) -> Alert:
    base = dict(camera_id="cam1", kind="zone", rule="door", severity="warning", start_time=1.0,
                end_time=1.0, frame_index=7, track_ids=(3,), explanation="person #3 entered",
                data={"polygon": [[0, 0], [1, 0], [1, 1]]})  # fmt: skip
    base.update(kw)
    return Alert(**base)


def test_wal_and_schema_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version() == SCHEMA_VERSION
    tables = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "sources", "alerts", "detection_counts"} <= tables
    store.close()
    # Re-opening runs no migration and keeps the version.
    assert Store(tmp_path / "m.db").schema_version() == SCHEMA_VERSION


def test_alert_upsert_keeps_one_row_and_round_trips(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.begin_run("r1", "batch", {"x": 1})
    a = _alert()
    store.write_alerts([a], "r1")
    grown = a.with_evidence(snapshot_path="cam1/alerts/a.jpg")
    from dataclasses import replace

    store.write_alerts([replace(grown, end_time=5.0, track_ids=(3, 4))], "r1")
    rows = StoreReader(tmp_path / "m.db").alerts()
    assert len(rows) == 1
    row = rows[0]
    assert row.id == a.id and row.end_time == 5.0 and row.track_ids == (3, 4)
    assert row.data["polygon"][2] == [1, 1]
    assert row.snapshot_path == "cam1/alerts/a.jpg"
    assert StoreReader(tmp_path / "m.db").alerts(kind="line") == []


def test_reader_does_not_block_writer(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.write_alerts([_alert()])
    reader = StoreReader(tmp_path / "m.db", busy_timeout_ms=100)
    reader.conn.execute("BEGIN")
    assert len(reader.conn.execute("SELECT * FROM alerts").fetchall()) == 1  # read snapshot open
    done = threading.Event()

    def write() -> None:
        store.write_alerts([_alert(start_time=2.0, frame_index=9)])
        done.set()

    t = threading.Thread(target=write)
    t.start()
    t.join(timeout=5)
    assert done.is_set(), "writer blocked by an open reader"
    assert len(reader.conn.execute("SELECT * FROM alerts").fetchall()) == 1  # snapshot isolation
    reader.conn.execute("COMMIT")
    assert len(reader.alerts()) == 2


def test_reader_is_read_only(tmp_path: Path) -> None:
    Store(tmp_path / "m.db").close()
    reader = StoreReader(tmp_path / "m.db")
    with pytest.raises(sqlite3.OperationalError):
        reader.conn.execute("DELETE FROM alerts")
    with pytest.raises(StoreError, match="not found"):
        StoreReader(tmp_path / "missing.db")


def test_newer_schema_refused_and_failed_write_rolls_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    store.write_alerts([_alert()])
    with pytest.raises(sqlite3.Error), store.transaction() as cur:
        cur.execute("INSERT INTO runs(id, kind, started_at) VALUES ('a', 'batch', 0)")
        cur.execute("INSERT INTO no_such_table VALUES (1)")
    assert store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    assert len(StoreReader(tmp_path / "m.db").alerts()) == 1  # earlier data intact
    store.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "m.db")


def test_media_paths_cannot_escape_root(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "a.jpg").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("no")
    assert resolve_media(root, "cam/a.jpg") == (root / "cam" / "a.jpg").resolve()
    assert resolve_media(root, "../secret.txt") is None
    assert resolve_media(root, str(tmp_path / "secret.txt")) is None
    assert resolve_media(root, "cam/missing.jpg") is None
    assert resolve_media(root, None) is None


def test_migration_from_v1_backs_up_first_and_keeps_rows(tmp_path: Path) -> None:
    from monitor.store import MIGRATIONS

    db = tmp_path / "m.db"
    conn = sqlite3.connect(db)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
    conn.execute("INSERT INTO runs(id, kind, started_at) VALUES ('old-run', 'batch', 1.0)")
    conn.commit()
    conn.close()
    store = Store(db)
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    backup = tmp_path / "m.db.v1.bak"
    assert backup.is_file()
    old = sqlite3.connect(backup)
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT id FROM runs").fetchall() == [("old-run",)]
    old.close()
    assert [r.id for r in StoreReader(db).runs()] == ["old-run"]


def test_reader_resolves_media_through_the_recorded_root(tmp_path: Path) -> None:
    media = tmp_path / "out"
    (media / "cam").mkdir(parents=True)
    (media / "cam" / "a.jpg").write_bytes(b"jpeg")
    db = tmp_path / "elsewhere" / "store.db"
    store = Store(db)
    store.set_media_root(media)
    store.write_alerts([_alert().with_evidence(snapshot_path="cam/a.jpg")])
    store.close()
    reader = StoreReader(db)
    assert reader.media_root() == media.resolve()
    [row] = reader.alerts()
    assert reader.resolve(row.snapshot_path) == (media / "cam" / "a.jpg").resolve()
    assert reader.resolve("../../etc/passwd") is None
    assert reader.resolve("cam/a.jpg\x00.png") is None


@pytest.mark.parametrize("damage", ["not a database", "half of one"])
def test_a_file_that_is_not_a_store_is_named_and_left_as_it_was(tmp_path: Path, damage) -> None:
    db = tmp_path / "monitor.db"
    if damage == "not a database":
        db.write_bytes(b"these are not the bytes of a SQLite file " * 200)
    else:
        store = Store(db)
        store.write_alerts([Alert("cam", "zone", "door", "warning", 1.0, 1.0, i, id=f"a{i}")
                            for i in range(200)], "r")  # fmt: skip
        store.close()
        whole = db.read_bytes()
        db.write_bytes(whole[:100] + b"\xff" * 16 + whole[116 : len(whole) // 2])
    before = db.read_bytes()
    for open_store in (Store, StoreReader):
        with pytest.raises(StoreError, match=rf"{db}: not a SQLite database, or damaged"):
            open_store(db).alerts()
    assert db.read_bytes() == before
