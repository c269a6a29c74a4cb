"""The detector contract: an RGB uint8 array in, ``Detections`` out."""

from __future__ import annotations

from abc import ABC, abstractmethod

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
