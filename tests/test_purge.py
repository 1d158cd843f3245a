"""``monitor purge`` and per-camera retention: a camera's media and rows go, nothing else does."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from typer.testing import CliRunner

from monitor.purge import PurgeError, RetentionConfig, enforce_camera_retention, purge_camera
from monitor.store import Store
from monitor.types import Alert

DAY = 86400.0


def make_store(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "media"
    store = Store(root / "monitor.db")
    store.set_media_root(root)
    store.begin_run("r", "live", {})
    now = time.time()
    alerts = []
    for cam in ("gate", "yard"):
        (root / cam / "alerts").mkdir(parents=True)
        for i, age in enumerate((10, 1)):
            aid = f"{cam}{i}"
            (root / cam / "alerts" / f"{aid}.jpg").write_bytes(b"x" * 100)
            os.utime(root / cam / "alerts" / f"{aid}.jpg", (now - age * DAY,) * 2)
            alerts.append(Alert(cam, "zone", "door", "warning", now - age * DAY, now - age * DAY,
                                i, snapshot_path=f"{cam}/alerts/{aid}.jpg", id=aid))  # fmt: skip
    (tmp_path / "outside.jpg").write_bytes(b"keep")
    alerts.append(Alert("gate", "zone", "door", "warning", now, now, 9, id="evil",
                        snapshot_path="../outside.jpg"))  # fmt: skip
    (root / "gate" / "alerts" / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    store.write_alerts(alerts, "r")
    store.close()
    return root / "monitor.db", root


def ids(db: Path) -> set[str]:
    return {r[0] for r in sqlite3.connect(db).execute("SELECT id FROM alerts")}


def test_purge_camera_deletes_its_media_and_rows_only(tmp_path: Path) -> None:
    db, root = make_store(tmp_path)
    report = purge_camera(db, "gate", user="tester")
    assert report.alerts == 3 and not (root / "gate").exists()
    assert ids(db) == {"yard0", "yard1"} and (root / "yard/alerts/yard0.jpg").is_file()
    assert (tmp_path / "outside.jpg").read_bytes() == b"keep"  # escape by row and by symlink
    audit = sqlite3.connect(db).execute("SELECT username, action, target, detail_json FROM audit")
    [(user, action, target, detail)] = audit.fetchall()
    assert (user, action, target) == ("tester", "purge", "gate")
    assert json.loads(detail)["alerts"] == 3


def test_purge_before_a_date_keeps_newer_footage(tmp_path: Path) -> None:
    db, root = make_store(tmp_path)
    purge_camera(db, "yard", before=time.time() - 5 * DAY)
    assert ids(db) == {"gate0", "gate1", "evil", "yard1"}
    assert not (root / "yard/alerts/yard0.jpg").exists()
    assert (root / "yard/alerts/yard1.jpg").is_file()


def test_purge_cli_and_bad_camera_id(tmp_path: Path) -> None:
    from cli.main import app

    db, root = make_store(tmp_path)
    res = CliRunner().invoke(app, ["purge", "--camera", "..", "--db", str(db), "--yes"])
    assert res.exit_code == 0 and root.is_dir() and (root / "yard").is_dir()
    res = CliRunner().invoke(
        app, ["purge", "--camera", "yard", "--db", str(db), "--before", "2100-01-01", "--yes"]
    )
    assert res.exit_code == 0, res.output
    assert "purged yard: 2 alerts" in res.output and not (root / "yard/alerts/yard1.jpg").exists()
    res = CliRunner().invoke(app, ["purge", "--camera", "yard", "--db", str(db), "--before", "x"])
    assert res.exit_code != 0


def test_purge_refuses_a_media_root_that_may_be_someone_elses(tmp_path: Path) -> None:
    import shutil

    from cli.main import app

    db, root = make_store(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)  # the copy's store still records root
    res = CliRunner().invoke(app, ["purge", "--camera", "gate", "--db", str(copy / "monitor.db"),
                                   "-y"])  # fmt: skip
    assert isinstance(res.exception, PurgeError) and "a copied or moved store?" in str(
        res.exception
    )
    for where in (tmp_path / "nowhere", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        args = ["purge", "--camera", "gate", "--db", str(db), "--media-root", str(where), "-y"]
        res = CliRunner().invoke(app, args)
        assert isinstance(res.exception, PurgeError) and "nothing deleted" in str(res.exception)
    assert (root / "gate/alerts/gate0.jpg").is_file() and (copy / "gate/alerts/gate0.jpg").is_file()
    assert ids(db) == ids(copy / "monitor.db") == {"gate0", "gate1", "evil", "yard0", "yard1"}
    report = purge_camera(copy / "monitor.db", "gate", media_root=copy)  # named: the copy goes
    assert report.alerts == 3 and not (copy / "gate").exists() and (root / "gate").is_dir()


def test_per_camera_retention(tmp_path: Path) -> None:
    _, root = make_store(tmp_path)
    n, freed = enforce_camera_retention(root, "gate", RetentionConfig(days=5))
    assert (n, freed) == (1, 100) and (root / "gate/alerts/gate1.jpg").is_file()
    assert (root / "yard/alerts/yard0.jpg").is_file() and (tmp_path / "outside.jpg").is_file()
    assert enforce_camera_retention(root, "yard", RetentionConfig(gb=150e-9)) == (1, 100)


def test_retention_inherits_the_global_setting() -> None:
    from monitor.config import CameraConfig, LiveConfig, MonitorConfig

    cfg = MonitorConfig(live=LiveConfig(retention_days=30, retention_gb=2),
                        cameras=[CameraConfig(id="a", uri="x", retention=RetentionConfig(days=3)),
                                 CameraConfig(id="b", uri="y")])  # fmt: skip
    assert cfg.camera("a").retention == RetentionConfig(days=3, gb=2)  # type: ignore[union-attr]
    assert cfg.camera("b").retention == RetentionConfig(days=30, gb=2)  # type: ignore[union-attr]
