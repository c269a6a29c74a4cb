"""The detector contract: an RGB uint8 array in, ``Detections`` out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from ..types import Detections


class Detector(ABC):
    """Finds faces in one image.

    Subclasses set ``name`` and implement ``detect``. ``models`` maps each
    weight file used to its sha256, for the report.
    """

    name: str = "detector"

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> Detections:
        """Return faces in ``rgb`` (H, W, 3) uint8, in its pixel coordinates."""

    @property
    def models(self) -> dict[str, str]:
        return {}

    def __call__(self, rgb: np.ndarray) -> Detections:
        return self.detect(rgb)


def rescale(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` resized by ``scale`` for a network input (area filter when shrinking)."""
    if scale == 1.0:
        return rgb
    h, w = rgb.shape[:2]
    interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)


def mirrored_name(name: str, mirror: bool) -> str:
    """A network's name, marked when it reads the mirror image."""
    return f"mirrored({name})" if mirror else name


def unmirrored(xyxy: np.ndarray, width: float) -> np.ndarray:
    """Boxes found on the left-right mirror image of a ``width``-px image, in the image's own coordinates."""
    boxes = np.array(xyxy, copy=True)
    boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    return boxes
