"""Dispatch to a style module. Every style covers exactly ``region_mask``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..config import Config
from ..types import Detections
from . import blur, fill, mosaic
from .regions import outer_int_box, region_shape, single_region_mask

_STYLES: dict[str, Callable[..., np.ndarray]] = {"fill": fill.paint_region, "mosaic": mosaic.paint_region, "blur": blur.paint_region}


def paint(pixels: np.ndarray, regions: Detections, config: Config, *, strength: float | None = None,
          in_place: bool = False) -> np.ndarray:
    """Return a copy of ``pixels`` (H, W, 3|4 uint8) with every region redacted
    (``in_place``: ``pixels`` itself, painted, when it is writable; a 200 MP photo's copy is 600 MB).

    With an alpha channel, redacted pixels become opaque: a transparent pixel
    still carries its RGB values, and an editor shows them again.

    ``strength`` overrides the mosaic's blocks (the blur's pixels) across a
    region; ``None`` is the style's calibrated default. Only the recognition
    benchmark passes it, to draw the curve of match rate against strength.
    """
    out = pixels if in_place and pixels.flags.writeable else pixels.copy()
    h, w = out.shape[:2]
    if config.style == "fill" and config.shape == "box":
        # The common case, as plain slices: a video frame of a crowd carries dozens of regions.
        for x1, y1, x2, y2 in regions.xyxy:
            x1, y1, x2, y2 = outer_int_box((x1, y1, x2, y2), w, h)
            out[y1:y2, x1:x2, :3] = config.fill_color
            if out.shape[2] == 4:
                out[y1:y2, x1:x2, 3] = 255
        return out
    paint_region = _STYLES[config.style]
    for box, kind in zip(regions.xyxy, regions.kind):
        (x1, y1, x2, y2), local = single_region_mask(h, w, box, region_shape(kind, config.shape))
        if not local.any():
            continue
        patch = out[y1:y2, x1:x2, :3]
        painted = paint_region(patch, local, config) if strength is None else paint_region(patch, local, config, strength)
        patch[local] = painted[local]
        if out.shape[2] == 4:
            out[y1:y2, x1:x2, 3][local] = 255
    return out
