"""Tiles and passes: detectors that wrap detectors.

Faces 10–20 px tall in a 4000-px crowd photo are a few cells of the
network's heat map at full resolution; cutting the image into overlapping
tiles and enlarging each gives the network the pixels it needs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import Detections
from .base import Detector


def tile_origins(length: int, tile: int, overlap: float) -> list[int]:
    """Start offsets covering ``length`` with tiles of ``tile`` px overlapping by ``overlap``."""
    if length <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)  # the last tile ends flush with the border
    return sorted(set(starts))


class Tiled(Detector):
    """Run ``inner`` on overlapping ``tile``-px crops and map boxes back.

    Images no larger than one tile are passed whole.
    """

    def __init__(self, inner: Detector, tile: int = 512, overlap: float = 0.25) -> None:
        self.inner = inner
        self.tile = tile
        self.overlap = overlap
        self.name = f"tiled({inner.name},{tile}px)"

    @property
    def models(self) -> dict[str, str]:
        return self.inner.models

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        found = []
        for y in tile_origins(h, self.tile, self.overlap):
            for x in tile_origins(w, self.tile, self.overlap):
                crop = rgb[y : y + self.tile, x : x + self.tile]
                found.append(self.inner.detect(np.ascontiguousarray(crop)).shift(x, y))
        return Detections.merge(found)


class Union(Detector):
    """Every detector's boxes, merged with non-maximum suppression.

    Recall first: a face found by any member is kept.
    """

    def __init__(self, members: Sequence[Detector], nms_iou: float = 0.4, name: str | None = None) -> None:
        self.members = list(members)
        self.nms_iou = nms_iou
        self.name = name or "+".join(m.name for m in self.members)

    @property
    def models(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for m in self.members:
            merged.update(m.models)
        return merged

    def detect(self, rgb: np.ndarray) -> Detections:
        return Detections.merge(m.detect(rgb) for m in self.members).nms(self.nms_iou)
