"""Thin wrappers over ultralytics' trainer and validator: offline, explicitly threaded, observable.

ultralytics does the training (augmentation, early stopping, resume); this module fixes what it
gets wrong on small offline CPU machines (network probes, one torch thread, font downloads for
plots), reports progress through a callback, and returns plain results instead of its objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.runtime import configure_offline

EpochCallback = Callable[[int, int, dict[str, float]], None]
"""Called after each epoch with (epoch 1-based, planned epochs, metrics)."""


@dataclass(frozen=True)
class TrainResult:
    """Where a training run left its weights, and what it did."""

    best: Path
    last: Path
    save_dir: Path
    epochs: int
    seconds: float
    args: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalResult:
    """Detection metrics of one model on one split (mAP over IoU 0.5 and 0.5:0.95)."""

    map50: float
    map50_95: float
    precision: float
    recall: float
    per_class: dict[str, dict[str, float]]
    images: int
    instances: int

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return dict(self.__dict__)


def _offline_run(data: str | Path) -> None:
    """What every ultralytics train or val here needs first: its data.yaml, and no network."""
    from training.datasets import data_yaml_file

    data_yaml_file(data)
    configure_offline()
    keep_fonts_local()


def keep_fonts_local() -> None:
    """ultralytics' dataset check fetches Arial.ttf from GitHub when no such font is installed (a
    request on every train and val, plots or not); here it takes a local font or none."""
    from ultralytics.data import utils as data_utils
    from ultralytics.utils import USER_CONFIG_DIR, checks

    def check_font(font: str = "Arial.ttf") -> Path | None:
        from matplotlib import font_manager

        name = Path(font).name
        if (USER_CONFIG_DIR / name).exists():
            return USER_CONFIG_DIR / name
        found = [f.fname for f in font_manager.fontManager.ttflist if font in f.fname]
        return Path(found[0]) if found else None

    checks.check_font = data_utils.check_font = check_font  # type: ignore[assignment]


def _metric_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(v), 5) for k, v in metrics.items() if isinstance(v, int | float)}


def train(
    data: str | Path,
    base: str | Path,
    epochs: int = 50,
    imgsz: int = 640,
    batch: int = 16,
    project: str | Path = "runs/train",
    name: str = "exp",
    hours: float | None = None,
    patience: int = 10,
    workers: int | None = None,
    device: str = "auto",
    resume: bool = False,
    on_epoch: EpochCallback | None = None,
    camera_aug: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Fine-tune (a ``.pt`` base) or train from scratch (a model ``.yaml``) with ultralytics.

    Args:
        data: ``data.yaml`` written by :func:`training.datasets.write_dataset`.
        base: Checkpoint or model yaml; with ``resume`` the ``last.pt`` of the run to continue.
        epochs: Maximum epochs. hours: Wall-clock cap (ultralytics ``time=``), re-plans epochs.
        imgsz: Training image size. batch: Batch size.
        project: Folder for runs (outside the repo). name: Run folder name.
        patience: Early-stopping patience in epochs without fitness improvement.
        workers: Dataloader workers; None = 1 on CPU, up to 8 on a GPU.
        device: ``auto`` (the first CUDA GPU, else cpu), ``cpu``, ``0`` ...
        resume: Continue the interrupted run whose ``last.pt`` is ``base``.
        on_epoch: Progress callback, see :data:`EpochCallback`.
        camera_aug: Add ``training.camera_augment`` (night, IR, blur, JPEG) to ultralytics'
            augmentation; needs albumentations.
        **overrides: Any other ultralytics train argument (lr0, optimizer, mosaic, seed ...).
    """
    _offline_run(data)
    from ultralytics import YOLO

    from training.gpu import offline_amp, train_device, train_workers

    device = train_device(device)
    model = YOLO(str(base))
    if on_epoch is not None:

        def _cb(trainer: Any) -> None:
            # ultralytics calls this once more after the last epoch, for the final validation
            epoch = min(trainer.epoch + 1, trainer.epochs)
            on_epoch(epoch, trainer.epochs, _metric_floats(trainer.metrics or {}))

        model.add_callback("on_fit_epoch_end", _cb)
    args: dict[str, Any] = {
        "data": str(data),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "project": str(Path(project).resolve()),
        "name": name,
        "exist_ok": True,
        "patience": patience,
        "workers": train_workers(workers, device),
        "device": device,
        "plots": False,  # plotting fetches a font from the network
        "verbose": False,
    }
    if hours:
        args["time"] = hours
    if camera_aug and not resume:
        from training.camera_augment import camera_augmentations

        args["augmentations"] = camera_augmentations()
    args.update(overrides)
    start = time.monotonic()
    with offline_amp():
        if resume:  # checkpoint arguments win, except these ultralytics lets a resume change
            allowed = ("time", "patience", "workers", "batch", "device")
            model.train(resume=True, **{k: v for k, v in args.items() if k in allowed})
        else:
            model.train(**args)
    trainer = model.trainer
    if trainer is None:
        raise RuntimeError("ultralytics returned without a trainer")
    save_dir = Path(trainer.save_dir)
    return TrainResult(
        best=save_dir / "weights" / "best.pt",
        last=save_dir / "weights" / "last.pt",
        save_dir=save_dir,
        epochs=int(trainer.epoch) + 1,
        seconds=round(time.monotonic() - start, 1),
        args={k: v for k, v in args.items() if k != "augmentations"} | {"camera_aug": camera_aug},
        metrics=_metric_floats(trainer.metrics or {}),
    )


def result_from_run(save_dir: str | Path) -> TrainResult:
    """Rebuild a :class:`TrainResult` from a finished run folder (``args.yaml``, ``results.csv``).

    For runs launched in the background or resumed: the registry needs their arguments, epochs,
    time and last validation metrics.
    """
    import csv

    import yaml

    run = Path(save_dir)
    args = yaml.safe_load((run / "args.yaml").read_text())
    with (run / "results.csv").open() as fh:
        rows = [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(fh)]
    if not rows:
        raise ValueError(f"{run}/results.csv has no epochs")
    last = rows[-1]
    keep = (
        "model",
        "data",
        "epochs",
        "time",
        "patience",
        "batch",
        "imgsz",
        "optimizer",
        "seed",
        "device",
    )
    return TrainResult(
        best=run / "weights" / "best.pt",
        last=run / "weights" / "last.pt",
        save_dir=run,
        epochs=len(rows),
        seconds=round(float(last["time"]), 1),
        args={k: args[k] for k in keep if k in args}
        | {"camera_aug": bool(args.get("augmentations"))},
        metrics={k: round(float(v), 5) for k, v in last.items() if k.startswith("metrics/")},
    )


def _count_images(data: str | Path, split: str) -> int:
    from monitor.sources import list_images
    from training.datasets import split_folder

    return len(list_images(split_folder(data, split, "evaluation")))


def evaluate(
    model: str | Path,
    data: str | Path,
    split: str = "test",
    imgsz: int = 640,
    batch: int = 8,
    device: str = "cpu",
) -> EvalResult:
    """mAP50, mAP50-95 and per-class precision/recall/F1 of ``model`` on one split of ``data``."""
    _offline_run(data)
    from ultralytics import YOLO

    yolo = YOLO(str(model))
    m = yolo.val(
        data=str(data),
        split=split,
        imgsz=imgsz,
        batch=batch,
        device=device,
        plots=False,
        verbose=False,
        workers=0,
        project="/tmp/monitor_val",
        name="val",
        exist_ok=True,
    )
    box = m.box
    per_class = {}
    for i, c in enumerate(box.ap_class_index):
        p, r = float(box.p[i]), float(box.r[i])
        per_class[m.names[int(c)]] = {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "map50": round(float(box.ap50[i]), 4),
            "map50_95": round(float(box.ap[i]), 4),
        }
    nt = getattr(m, "nt_per_class", None)
    return EvalResult(
        map50=round(float(box.map50), 4),
        map50_95=round(float(box.map), 4),
        precision=round(float(box.mp), 4),
        recall=round(float(box.mr), 4),
        per_class=per_class,
        images=_count_images(data, split),
        instances=int(nt.sum()) if nt is not None else 0,
    )
