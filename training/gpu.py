"""Where training runs: the device ``auto`` picks, dataloader workers, and an offline AMP check.

ultralytics checks mixed precision before training on CUDA by downloading ``yolo26n.pt`` and
comparing fp32 with autocast boxes on it. This project never downloads at run time, so the same
comparison runs here on the model being trained instead (``offline_amp_check``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Iterator
from typing import Any

from monitor.detectors.base import select_device

# GPUs ultralytics knows to give NaN losses under AMP (its check_amp list).
_AMP_BROKEN = re.compile(
    r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)",
    re.IGNORECASE,
)


def train_device(device: str = "auto") -> str:
    """ultralytics' device string: ``auto`` is the first CUDA GPU when torch sees one (``0``),
    else cpu; the detectors' ``select_device`` decides."""
    return select_device(device).removeprefix("cuda:") if device == "auto" else device


def torch_device(device: str = "auto") -> str:
    """The same choice in torch's spelling (``cpu``, ``cuda:N``), for the detector backends.

    Example:
        >>> torch_device("0"), torch_device("cuda:1"), torch_device("cpu")
        ('cuda:0', 'cuda:1', 'cpu')
    """
    return f"cuda:{device}" if device.isdigit() else select_device(device)


def train_workers(workers: int | None, device: str) -> int:
    """Dataloader workers: as given, else 1 on CPU (the trainer needs the cores) or up to 8."""
    if workers is not None:
        return workers
    if device == "cpu":
        return 1
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def offline_amp_check(model: Any) -> bool:
    """True when autocast (fp16) finds the same boxes as fp32 on ``model`` itself.

    ultralytics' criterion (same box count, coordinates within 0.5 px on ``bus.jpg``, batch 8),
    on a copy of the model about to be trained rather than on a downloaded reference model.
    """
    import cv2
    import numpy as np
    import torch
    from ultralytics.utils import ASSETS, LOGGER
    from ultralytics.utils.nms import non_max_suppression

    device = next(model.parameters()).device
    if device.type != "cuda":
        return False
    if _AMP_BROKEN.search(torch.cuda.get_device_name(device)):
        LOGGER.warning("AMP: off, this GPU is known to give NaN losses with fp16")
        return False
    bus = cv2.imread(str(ASSETS / "bus.jpg"))
    if bus is None:
        raise FileNotFoundError(f"ultralytics' AMP check image is missing: {ASSETS / 'bus.jpg'}")
    image = cv2.resize(bus, (320, 320))
    x = torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1)))
    x = x.to(device).float().div(255).unsqueeze(0).repeat(8, 1, 1, 1)
    net = copy.deepcopy(model).float().eval()

    def boxes(autocast: bool) -> Any:
        with torch.no_grad(), torch.autocast("cuda", enabled=autocast):
            out = net(x)
        pred = out[0] if isinstance(out, list | tuple) else out
        return non_max_suppression(pred.float(), 0.25, 0.7)[0]

    a, b = boxes(False), boxes(True)
    ok = a.shape == b.shape and bool(torch.allclose(a, b, atol=0.5))
    LOGGER.info(f"AMP: offline check on the trained model {'passed' if ok else 'failed'}")
    return ok


@contextlib.contextmanager
def offline_amp() -> Iterator[None]:
    """Within the block, ultralytics' trainer checks AMP with :func:`offline_amp_check`."""
    from ultralytics.engine import trainer

    original = trainer.check_amp
    trainer.check_amp = offline_amp_check  # type: ignore[attr-defined]
    try:
        yield
    finally:
        trainer.check_amp = original  # type: ignore[attr-defined]
