"""``training.camera_augment``: pixel-only camera shifts that leave the labels where they are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from training.camera_augment import camera_augmentations
from training.labels import read_mot


def test_camera_augmentations_change_pixels_not_boxes(pets_dir: Path) -> None:
    import albumentations as A

    image = cv2.imread(str(pets_dir / "img1" / "000001.jpg"))
    people = read_mot(pets_dir / "gt" / "gt.txt")[1]
    boxes = [[b.x1, b.y1, b.x2, b.y2] for b in people]
    compose = A.Compose(
        camera_augmentations(),
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["cls"]),
        seed=1,
    )
    changed = 0
    for _ in range(200):
        out = compose(image=image, bboxes=boxes, cls=[0] * len(boxes))
        assert out["image"].shape == image.shape and out["image"].dtype == np.uint8
        np.testing.assert_allclose(np.asarray(out["bboxes"]), np.asarray(boxes), atol=1e-3)
        changed += int(np.abs(out["image"].astype(int) - image).mean() > 1.0)
    # each transform fires with p 0.1-0.25: 1 - prod(1 - p) = 72% of draws change the frame
    assert 0.55 <= changed / 200 <= 0.9
    dark = A.RandomBrightnessContrast(brightness_limit=(-0.6, -0.6), contrast_limit=0, p=1.0)
    assert dark(image=image)["image"].mean() < 0.6 * image.mean()  # the night range really darkens
