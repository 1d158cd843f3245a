"""Dashboard page: login required (no default password), alerts of a real store rendered, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from monitor.store import Store
from monitor.types import Alert

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    db = tmp_path / "monitor.db"
    store = Store(db)
    for i, rule in enumerate(["door", "gate"]):
        store.write_alert(
            Alert(
                "pets",
                "zone",
                rule,
                "warning",
                float(i),
                float(i) + 1,
                i,
                (i + 1,),
                explanation=f"person #{i + 1} entered zone '{rule}'",
            )  # fmt: skip
        )
    store.close()
    return db


def _app(monkeypatch, db: Path, password: str | None) -> AppTest:
    monkeypatch.delenv("MONITOR_DASHBOARD_PASSWORD_SHA256", raising=False)
    if password is None:
        monkeypatch.delenv("MONITOR_DASHBOARD_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("MONITOR_DASHBOARD_PASSWORD", password)
    monkeypatch.setenv("MONITOR_DB", str(db))
    return AppTest.from_file(APP, default_timeout=30).run()


def test_no_password_configured_shows_nothing(monkeypatch, store_path: Path) -> None:
    at = _app(monkeypatch, store_path, None)
    assert "No dashboard password is configured" in at.error[0].value
    assert len(at.dataframe) == 0


def test_wrong_then_right_password(monkeypatch, store_path: Path) -> None:
    at = _app(monkeypatch, store_path, "s3cret-pw")
    assert len(at.dataframe) == 0
    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error)
    assert len(at.dataframe) == 0
    at.text_input[0].input("s3cret-pw")
    at.button[0].click().run()
    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert sorted(table["rule"]) == ["door", "gate"]
    assert at.metric[0].value == "2"


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
