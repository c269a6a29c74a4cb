"""Solid fill: the default, and the only style nothing can undo."""

from __future__ import annotations

import numpy as np

from ..config import Config


def paint_region(patch: np.ndarray, mask: np.ndarray, config: Config) -> np.ndarray:
    # A constant colour: nothing of the face (not even its mean colour) survives.
    return np.broadcast_to(np.array(config.fill_color, np.uint8), patch.shape)
