"""Tiles and passes: a detector that wraps a detector.

Faces 10–20 px tall in a 4000-px crowd photo are a few cells of the
network's heat map at full resolution; cutting the image into overlapping
tiles and enlarging each gives the network the pixels it needs.
"""

from __future__ import annotations

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


# Never shrink the tiled pass more than this: a 60-px face in a 200 MP
# photo must keep ~30 px, which the networks still find. Above ~50 MP the
# time grows with the image (memory does not: the pass is tiled).
MIN_TILE_SCALE = 0.5


def small_face_scale(height: int, width: int, budget_mpx: float, max_scale: float = 2.0) -> float:
    """Enlargement for the tiled pass: up to ``max_scale``, less when the image is big.

    The tiled pass feeds the network ``scale² × H × W`` pixels; capping that
    at ``budget_mpx`` keeps big photos bounded in time (and, being tiled, in
    memory) instead of growing 4× with a 2× enlargement, down to
    ``MIN_TILE_SCALE``. Rounded down to 1/16 steps so one network per step is ever built.
    """
    mpx = height * width / 1e6
    scale = min(max_scale, (budget_mpx / max(mpx, 1e-6)) ** 0.5)
    return max(MIN_TILE_SCALE, float(np.floor(scale * 16) / 16))


class Pyramid(Detector):
    """A whole-image pass plus a tiled, enlarged pass whose scale depends on the image size.

    Args:
        make: builds the network at a given input scale (``lambda s: CenterFace(t, scale=s)``).
        whole_long_side: the whole-image pass shrinks larger images to this long
            side (big faces need no more; the tiled pass covers the small ones).
        tile_px: tile size in network input pixels (memory per inference).
        budget_mpx: network input pixels the tiled pass may use (see ``small_face_scale``).
        max_scale: the largest enlargement of the tiled pass.
        overlap: tile overlap, so a face cut by one tile is whole in the next.
        max_single_mpx: an enlarged pass up to this many input megapixels runs as one
            input (tiles overlap, so they cost more); beyond it, tiles.
        whole_pass: False leaves only the enlarged pass (another detector covers big faces).
        name: label for reports.
    """

    def __init__(self, make, *, whole_long_side: int = 2048, tile_px: int = 1024, budget_mpx: float = 4.0,
                 max_scale: float = 2.0, overlap: float = 0.25, nms_iou: float = 0.4, max_single_mpx: float = 4.2,
                 whole_pass: bool = True, name: str = "pyramid") -> None:
        self.make = make
        self.whole_long_side = whole_long_side
        self.tile_px = tile_px
        self.budget_mpx = budget_mpx
        self.max_scale = max_scale
        self.overlap = overlap
        self.nms_iou = nms_iou
        self.max_single_mpx = max_single_mpx
        self.whole_pass = whole_pass
        self.name = name
        self._at: dict[float, Detector] = {}
        self._inner(1.0)  # build (and verify the weights) now: ModelError before any work

    def _inner(self, scale: float) -> Detector:
        if scale not in self._at:
            self._at[scale] = self.make(scale)
        return self._at[scale]

    @property
    def models(self) -> dict[str, str]:
        return self._inner(1.0).models

    def passes(self, height: int, width: int) -> list[tuple[float, int | None]]:
        """(scale, tile size in source pixels or None for the whole image) per pass."""
        whole = min(1.0, self.whole_long_side / max(height, width))
        out: list[tuple[float, int | None]] = [(whole, None)] if self.whole_pass else []
        small = small_face_scale(height, width, self.budget_mpx, self.max_scale)
        if small > whole:  # an enlarged pass at the whole pass's scale would add nothing
            # Tiles overlap, so they cost more than one input; tile only when one input would be too big.
            fits = small * small * height * width <= self.max_single_mpx * 1e6
            out.append((small, None if fits else max(32, int(self.tile_px / small))))
        return out

    def detect(self, rgb: np.ndarray) -> Detections:
        h, w = rgb.shape[:2]
        found = []
        for scale, tile in self.passes(h, w):
            inner = self._inner(scale)
            if tile is None:
                found.append(inner.detect(rgb))  # the network resizes by its scale
                continue
            for y in tile_origins(h, tile, self.overlap):
                for x in tile_origins(w, tile, self.overlap):
                    crop = np.ascontiguousarray(rgb[y : y + tile, x : x + tile])
                    found.append(inner.detect(crop).shift(x, y))
        return Detections.merge(found).nms(self.nms_iou)
