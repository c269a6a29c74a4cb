"""The detector contract: an RGB uint8 array in, ``Detections`` out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..types import Detections


@dataclass(frozen=True)
class Judgement:
    """What a detector decides for one image: the regions to paint, and the candidates it looked at and turned down.

    Only a detector that judges candidates (``second_stage.SecondStage``) has
    ``rejected``; the verifier uses them not to overrule that judgement on a
    find that only repeats one of them (``verify.checks.repeats_rejected``).
    """

    faces: Detections
    rejected: Detections = field(default_factory=Detections.empty)


class Detector(ABC):
    """Finds faces in one image.

    Subclasses set ``name`` and implement ``detect``. ``models`` maps each
    weight file used to its sha256, for the report.
    """

    name: str = "detector"

    @abstractmethod
    def detect(self, rgb: np.ndarray) -> Detections:
        """Return faces in ``rgb`` (H, W, 3) uint8, in its pixel coordinates."""

    def judge(self, rgb: np.ndarray) -> Judgement:
        """``detect``, with the candidates turned down where the detector has any (none by default)."""
        return Judgement(self.detect(rgb))

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
