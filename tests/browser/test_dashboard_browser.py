"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on a real batch store.

Logs in, reloads (the session survives), opens Live and Alerts, checks that the alert clip's
<video> reaches readyState >= 2 (H.264 plays in Chromium) and the snapshot <img> decoded
(naturalWidth > 0), times the Alerts page on 100k rows, and logs out. Screenshots go to the
test's tmp dir; set MONITOR_SCREENSHOTS=DIR to also copy them there (docs/img for the README).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.dashboard import streamlit_command
from tests.test_dashboard import PW, real_store, synthetic_store  # noqa: F401 - fixture

CHROMIUM = Path(os.environ.get("MONITOR_CHROMIUM", "/usr/bin/chromium"))
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    """Start `monitor dashboard`'s streamlit command on a store; yields a function(db) -> url."""
    children: list[subprocess.Popen[bytes]] = []

    def start(db: Path) -> str:
        port = _free_port()
        log = (tmp_path / f"streamlit_{port}.log").open("wb")
        child = subprocess.Popen(streamlit_command(db, port), stdout=log, stderr=log, cwd=tmp_path)
        children.append(child)
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}/"
            time.sleep(0.3)
        raise RuntimeError("dashboard did not start")

    yield start
    for child in children:
        child.terminate()
        child.wait(timeout=20)


@pytest.fixture
def browser() -> Iterator:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    target = os.environ.get("MONITOR_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _login(page, url: str, attempts: int = 3) -> None:
    """Log in as ana; on a busy machine Streamlit may re-render the form under the first click."""
    page.goto(url)
    for attempt in range(attempts):
        page.get_by_role("textbox", name="User").wait_for(timeout=60_000)
        page.get_by_role("textbox", name="User").fill("ana")
        page.get_by_role("textbox", name="Password").fill(PW)
        page.get_by_role("button", name="Log in").click()
        try:
            page.get_by_text("ana", exact=True).wait_for(timeout=40_000)
            return
        except Exception:
            if attempt == attempts - 1:
                raise


def _open(page, name: str) -> None:
    page.locator("[data-testid=stSidebar]").get_by_text(name, exact=True).click()
    page.get_by_role("heading", name=name).wait_for(timeout=60_000)


def _publish_live_frame(db: Path) -> None:
    """What the live driver does: the newest annotated frame of a camera under live/."""
    import cv2

    from monitor.publish import FramePublisher
    from monitor.store import StoreReader

    reader = StoreReader(db)
    try:
        snap = reader.resolve(reader.alerts(limit=1)[0].snapshot_path)
        root = reader.media_root()
    finally:
        reader.close()
    assert snap is not None
    FramePublisher(root, fps=1).publish(
        "pets60", cv2.imread(str(snap)), time.time(), 0, extra={"state": "online", "fps": 7.0}
    )


def test_login_live_alert_evidence_in_chromium(serve, browser, real_store, tmp_path) -> None:  # noqa: F811
    _publish_live_frame(real_store)
    url = serve(real_store)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url)
    # the login sets the session cookie from a script in the page: wait for it, as a person would
    page.wait_for_function("document.cookie.includes('monitor_session=')", timeout=30_000)
    page.reload()  # the session survives a reload (cookie + server-side token)
    page.get_by_text("ana", exact=True).wait_for(timeout=30_000)
    _open(page, "Live")
    page.locator("[data-testid=stImage] img").first.wait_for(timeout=30_000)
    _shot(page, tmp_path, "live")
    _open(page, "Alerts")
    video = page.locator("video").first
    video.wait_for(timeout=30_000)
    page.wait_for_function("document.querySelector('video').readyState >= 2", timeout=30_000)
    snap = page.locator("[data-testid=stImage] img").first
    snap.wait_for(timeout=30_000)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=stImage] img')].some(i => i.naturalWidth > 0)",
        timeout=30_000,
    )
    assert video.evaluate("v => v.readyState") >= 2
    assert snap.evaluate("i => i.naturalWidth") > 0
    page.locator("video").first.scroll_into_view_if_needed()
    _shot(page, tmp_path, "alerts")
    _open(page, "Timeline")
    page.locator("canvas, svg").first.wait_for(timeout=30_000)
    _shot(page, tmp_path, "timeline")
    page.get_by_role("button", name="Log out").click()
    page.get_by_text("Logged out.").wait_for(timeout=30_000)
    page.reload()
    page.get_by_role("textbox", name="Password").wait_for(timeout=30_000)  # logged out for good


def test_alerts_page_with_100k_rows_in_chromium(serve, browser, tmp_path) -> None:
    url = serve(synthetic_store(tmp_path / "big.db"))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _login(page, url)

    def alerts_shown() -> float:
        try:
            page.get_by_text("100,000").first.wait_for(timeout=90_000)
        except Exception:
            _shot(page, tmp_path, "failed")
            raise
        page.locator("[data-testid=stDataFrame]").first.wait_for(timeout=90_000)
        return time.perf_counter() - started

    started = time.perf_counter()  # first visit: the frontend also fetches its widget code
    page.goto(url + "?page=alerts")
    cold = alerts_shown()
    _open(page, "Runs")
    started = time.perf_counter()  # in the app: the sidebar link to Alerts
    page.locator("[data-testid=stSidebar]").get_by_text("Alerts", exact=True).click()
    in_app = alerts_shown()
    page.wait_for_function("document.cookie.includes('monitor_session=')", timeout=30_000)
    started = time.perf_counter()  # a reload of the Alerts URL: new session, cookie login, page
    page.goto(url + "?page=alerts")  # (page.reload() could race the app's own URL update)
    reload = alerts_shown()
    print(f"browser, 100k alerts: Alerts page {in_app:.2f} s in the app, {reload:.2f} s on "
          f"reload, {cold:.2f} s on first visit")  # fmt: skip
    _shot(page, tmp_path, "alerts_100k")
    # Timings are printed, not asserted: speed goals live in benchmarks, and CI shares 2 cores.
    # Measured on this machine: 0.2-1.1 s in the app, 1-2.6 s on a fresh load.
