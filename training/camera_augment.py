"""Training augmentation aimed at cameras the footage does not show: night, IR, blur, compression.

ultralytics applies Albumentations transforms after its own geometry and HSV steps, but by default
only at p=0.01 and only when albumentations is installed (otherwise it skips them with a log line).
``camera_augmentations`` is the list passed as ultralytics' ``augmentations`` train argument;
each transform is drawn with its own probability, ranges are wide on purpose (a new camera is
not a small perturbation of PETS). ``benchmarks/camera_shift.py`` scores fixed points of the
same families on held-out frames, so its figures show robustness to these kinds of change, not
to unseen kinds.
"""

from __future__ import annotations

from typing import Any

from monitor.runtime import configure_offline


def camera_augmentations() -> list[Any]:
    """Albumentations transforms: low light, sensor noise, greyscale IR, blur, low resolution,
    heavy JPEG. Raises ImportError naming the package when albumentations is missing."""
    configure_offline()  # before the import: albumentations' update check goes online
    try:
        import albumentations as A
    except ImportError as err:
        raise ImportError(
            "camera augmentation needs albumentations (pip install albumentations); "
            "pass --no-camera-aug to train without it"
        ) from err
    return [
        A.RandomBrightnessContrast(
            brightness_limit=(-0.6, 0.1), contrast_limit=(-0.5, 0.1), p=0.25
        ),
        A.RandomGamma(gamma_limit=(100, 200), p=0.15),  # > 100 darkens mid-tones
        A.GaussNoise(std_range=(0.01, 0.06), p=0.2),
        A.ToGray(p=0.1),
        A.OneOf([A.MotionBlur(blur_limit=(3, 11)), A.GaussianBlur(blur_limit=(3, 7))], p=0.2),
        A.Downscale(scale_range=(0.3, 0.7), p=0.1),
        A.ImageCompression(quality_range=(10, 60), p=0.15),
    ]
