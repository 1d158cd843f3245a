"""``monitor backtest``: run two configs (or models) over the same footage and compare their alerts.

Before enabling a new model or rule set, run both over recorded footage: alerts only the new one
raises are *added*, alerts only the old one raised are *removed*, and alerts both raise (same id,
or same rule and kind with overlapping time) whose span, severity or tracks differ are *changed*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
COMPARED = ("start_time", "end_time", "severity", "track_ids")


@dataclass
class AlertDiff:
    """Alerts of config B against config A on one input."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    same: int = 0


def _overlap(a: dict[str, Any], b: dict[str, Any], slack: float) -> float:
    """Time IoU of two alert spans, each widened by ``slack`` seconds (instant alerts overlap)."""
    a0, a1 = a["start_time"] - slack, a["end_time"] + slack
    b0, b1 = b["start_time"] - slack, b["end_time"] + slack
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    union = max(a1, b1) - min(a0, b0)
    return inter / union if union > 0 else 0.0


def compare_alerts(
    a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], min_overlap: float = 0.3,
    slack: float = 1.0,
) -> AlertDiff:  # fmt: skip
    """Match B's alerts to A's by id, then by (kind, rule) and time overlap; diff the rest.

    Example:
        >>> x = {"id": "1", "kind": "rule", "rule": "zone", "start_time": 0.0, "end_time": 5.0}
        >>> y = dict(x, id="2", end_time=6.0)
        >>> d = compare_alerts([x], [y])
        >>> len(d.added), len(d.removed), len(d.changed)
        (0, 0, 1)
    """
    diff = AlertDiff()
    left = list(a)
    for alert in b:
        match = next((x for x in left if x.get("id") == alert.get("id")), None)
        if match is None:
            scored = [
                (_overlap(x, alert, slack), i)
                for i, x in enumerate(left)
                if (x["kind"], x["rule"]) == (alert["kind"], alert["rule"])
            ]
            best = max(scored, default=(0.0, -1))
            match = left[best[1]] if best[0] >= min_overlap else None
        if match is None:
            diff.added.append(alert)
            continue
        left.remove(match)
        if any(match.get(k) != alert.get(k) for k in COMPARED):
            diff.changed.append((match, alert))
        else:
            diff.same += 1
    diff.removed = left
    return diff


def run_alerts(
    config: Path | None, footage: Sequence[str], out: Path, weights: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Alerts per input of one config over the footage (a full batch run into ``out``)."""
    from monitor.config import load_config
    from monitor.pipeline import Pipeline
    from monitor.sources import discover_each
    from pipelines.batch import run_batch

    cfg = load_config(config)
    if weights is not None:
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"weights": weights})})
    outcomes = run_batch(
        cfg, discover_each(list(footage)), out, Pipeline.from_config(cfg), force=True
    )
    failed = [f"{o.path}: {o.error}" for o in outcomes if o.status == "failed"]
    if failed:
        raise typer.BadParameter("; ".join(failed))
    return {o.path: list((o.summary or {}).get("alerts", [])) for o in outcomes}


def _span(alert: dict[str, Any], digits: int = 1) -> str:
    return f"{alert['start_time']:.{digits}f}-{alert['end_time']:.{digits}f}s"


def _row(alert: dict[str, Any]) -> str:
    return f"{alert['kind']}:{alert['rule']} {_span(alert)}"


def describe_change(a: dict[str, Any], b: dict[str, Any]) -> str:
    """What differs between two matched alerts, e.g. ``tracks [3] -> [1]`` (an id switch moves
    an alert to another track with the same span; printing the spans alone hid that).

    Example:
        >>> x = {"kind": "rule", "rule": "zone", "start_time": 0.0, "end_time": 5.0,
        ...      "severity": "info", "track_ids": [3]}
        >>> describe_change(x, dict(x, track_ids=[1], end_time=5.04))
        'rule:zone 0.00-5.00s -> 0.00-5.04s; tracks [3] -> [1]'
    """
    where, parts = f"{a['kind']}:{a['rule']}", []
    if (a["start_time"], a["end_time"]) != (b["start_time"], b["end_time"]):
        digits = 1 if _span(a, 1) != _span(b, 1) else 2
        parts.append(f"{_span(a, digits)} -> {_span(b, digits)}")
    else:
        where = _row(a)
    if a.get("severity") != b.get("severity"):
        parts.append(f"severity {a.get('severity')} -> {b.get('severity')}")
    if a.get("track_ids") != b.get("track_ids"):
        parts.append(f"tracks {a.get('track_ids')} -> {b.get('track_ids')}")
    return f"{where} " + "; ".join(parts)


def backtest(
    footage: Annotated[list[str], typer.Argument(help="Videos or frame folders.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Config A (current).")],
    against: Annotated[
        Path | None, typer.Option(help="Config B (candidate); default: A with --weights.")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Model for B (path or version).")] = None,
    out: Annotated[Path, typer.Option(help="Work folder for both runs.")] = Path("out/backtest"),
) -> None:
    """Compare the alerts of two configs/models on the same footage (added, removed, changed)."""
    if against is None and weights is None:
        raise typer.BadParameter("give --against B.yaml or --weights MODEL for the candidate")
    alerts_a = run_alerts(config, footage, out / "A")
    alerts_b = run_alerts(against or config, footage, out / "B", weights)
    table = Table("input", "A", "B", "same", "added", "removed", "changed")
    details = []
    for name in alerts_a:
        d = compare_alerts(alerts_a[name], alerts_b.get(name, []))
        table.add_row(name, str(len(alerts_a[name])), str(len(alerts_b.get(name, []))),
                      str(d.same), str(len(d.added)), str(len(d.removed)), str(len(d.changed)))  # fmt: skip
        details += [f"+ {name} {_row(x)}" for x in d.added]
        details += [f"- {name} {_row(x)}" for x in d.removed]
        details += [f"~ {name} {describe_change(x, y)}" for x, y in d.changed]
    console.print(table)
    for line in details:
        console.print(line)


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to the CLI."""
    app.command("backtest")(backtest)
