"""Face detectors. Each model lives in its own module and returns ``Detections``;
tiling and ensembles wrap detectors and are detectors themselves."""

from .base import Detector
from .registry import build_detector

__all__ = ["Detector", "build_detector"]
