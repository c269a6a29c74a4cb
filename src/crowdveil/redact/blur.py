"""Blur scaled to the face, strong enough that no feature survives.

Weaker than fill: a blur is a known linear filter, and recognition models
match blurred faces far above chance at mild strengths. Here the region is
first reduced to 4 px across (which discards the detail for good), then
enlarged and smoothed so it still looks like a blur.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config import Config

PIXELS_ACROSS = 4


def paint_region(patch: np.ndarray, mask: np.ndarray, config: Config) -> np.ndarray:
    h, w = patch.shape[:2]
    small = cv2.resize(patch, (PIXELS_ACROSS, max(1, round(PIXELS_ACROSS * h / max(w, 1)))), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    sigma = max(1.0, max(h, w) / 6)
    return cv2.GaussianBlur(big, (0, 0), sigma)
