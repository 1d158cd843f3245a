"""``monitor backtest``: two configs over the same real frames; the alert only one raises is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cli.backtest import compare_alerts, describe_change, run_alerts


def _alert(i: str, rule: str, start: float, end: float, **kw: object) -> dict:
    return {"id": i, "kind": "rule", "rule": rule, "start_time": start, "end_time": end,
            "severity": "info", "track_ids": [1], **kw}  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([_alert("1", "z", 0, 5)], [_alert("1", "z", 0, 5)], (1, 0, 0, 0)),
        ([_alert("1", "z", 0, 5)], [_alert("9", "z", 0.5, 5)], (0, 0, 0, 1)),  # same event, moved
        ([_alert("1", "z", 0, 5)], [_alert("9", "z", 50, 55)], (0, 1, 1, 0)),  # another event
        ([], [_alert("1", "z", 0, 5)], (0, 1, 0, 0)),
        ([_alert("1", "z", 0, 5)], [_alert("2", "line", 0, 5)], (0, 1, 1, 0)),  # other rule
    ],
)
def test_compare_alerts(a: list, b: list, expected: tuple[int, int, int, int]) -> None:
    d = compare_alerts(a, b)
    assert (d.same, len(d.added), len(d.removed), len(d.changed)) == expected


def test_a_changed_alert_says_what_changed() -> None:
    """Same span, another track (an id switch): the line names the tracks, not two equal spans."""
    a = _alert("1", "line", 14.7, 51.6, track_ids=[3, 5])
    [(x, y)] = compare_alerts([a], [dict(a, id="2", track_ids=[2, 5])]).changed
    assert describe_change(x, y) == "rule:line 14.7-51.6s tracks [3, 5] -> [2, 5]"
    moved = describe_change(a, dict(a, end_time=51.63, severity="critical"))
    assert moved == "rule:line 14.70-51.60s -> 14.70-51.63s; severity info -> critical"


def test_backtest_reports_the_alert_only_b_raises(tmp_path: Path, pets_dir: Path) -> None:
    clip = tmp_path / "pets12" / "img1"
    clip.mkdir(parents=True)
    for f in range(1, 13):
        (clip / f"{f:06d}.jpg").symlink_to(pets_dir / "img1" / f"{f:06d}.jpg")
    (clip.parent / "seqinfo.ini").write_text((pets_dir / "seqinfo.ini").read_text())
    base = {"model": {"classes": ["person"], "imgsz": 320}}
    zone = {"name": "everywhere", "polygon": [[0, 0], [768, 0], [768, 576], [0, 576]],
            "classes": ["person"], "min_frames": 1}  # fmt: skip
    cfg_a, cfg_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    cfg_a.write_text(yaml.safe_dump(base))
    cfg_b.write_text(yaml.safe_dump({**base, "rules": {"zones": [zone]}}))
    a = run_alerts(cfg_a, [str(clip.parent)], tmp_path / "out" / "A")
    b = run_alerts(cfg_b, [str(clip.parent)], tmp_path / "out" / "B")
    [name] = a
    d = compare_alerts(a[name], b[name])
    assert [x["rule"] for x in d.added] == ["everywhere"] and not d.removed and not d.changed
