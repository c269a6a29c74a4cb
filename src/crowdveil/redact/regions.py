"""From face boxes to the pixels that will be painted."""

from __future__ import annotations

import cv2
import numpy as np

from ..types import Detections


# Text boxes are grown by this share of their height on every side: the detector's box
# follows the letters, and a descender or an accent beside it still reads.
TEXT_PADDING = 0.25
# Regions painted as boxes whatever the shape: an ellipse would leave a plate's corners readable.
BOX_ONLY = ("text", "body")


def redaction_regions(faces: Detections, padding: float, width: int, height: int, *, bodies: bool = False) -> Detections:
    """Pad face boxes so hair, ears and chin are covered; clip to the image.

    Detector boxes hug the inner face; the padding is applied on every side,
    and a little more on top, where hair starts. ``text`` regions are padded
    by ``TEXT_PADDING`` of their height, ``body`` regions not at all. With
    ``bodies``, each face's body (``bodies.body_regions``) is added: derived
    here, from whatever faces are painted, so the verifier's repairs and a
    video's tracked faces bring their bodies along.
    """
    if not len(faces):
        return faces
    kind = faces.kind.astype(str)
    text, body = kind == "text", kind == "body"
    face = ~text & ~body
    parts = [faces[face].expand((padding, padding * 1.2, padding, padding))]
    if text.any():
        boxes = faces[text]
        grow = boxes.height * TEXT_PADDING
        parts.append(boxes.replace(xyxy=boxes.xyxy + np.stack([-grow, -grow, grow, grow], axis=1)))
    parts.append(faces[body])
    if bodies:
        from .bodies import body_regions

        parts.append(body_regions(faces[face], width, height))
    return Detections.merge(parts).clip(width, height)


def region_shape(kind: str, shape: str) -> str:
    """The shape a region of ``kind`` is painted with when the run asks for ``shape``."""
    return "box" if kind in BOX_ONLY else shape


def region_mask(height: int, width: int, regions: Detections, shape: str = "box") -> np.ndarray:
    """Boolean (H, W) mask of the pixels covered by ``regions``.

    Box edges are rounded outwards so a fractional box never leaves a sliver.
    Built from ``single_region_mask``, as ``paint`` is, so the mask the
    verifier and the benchmark trust is exactly what was painted.
    """
    mask = np.zeros((height, width), bool)
    for box, kind in zip(regions.xyxy, regions.kind):
        (x1, y1, x2, y2), local = single_region_mask(height, width, box, region_shape(kind, shape))
        mask[y1:y2, x1:x2] |= local
    return mask


def painted_share(regions: Detections, width: int, height: int, shape: str = "box", *, long_side: int = 320) -> float:
    """Share (0..1) of a ``width``×``height`` picture that ``regions`` cover, measured on a
    mask scaled to ``long_side``: cheap enough for every frame of a long video."""
    if not len(regions) or width <= 0 or height <= 0:
        return 0.0
    factor = min(1.0, long_side / max(width, height))
    w, h = max(1, round(width * factor)), max(1, round(height * factor))
    return float(region_mask(h, w, regions.scale(w / width, h / height), shape).mean())


def single_region_mask(height: int, width: int, box, shape: str) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The integer bounding box of one region (clipped to the image) and its local mask."""
    x1, y1, x2, y2 = outer_int_box(box, width, height)
    x2, y2 = max(x1, x2), max(y1, y2)  # a box wholly outside the image: nothing
    local = np.zeros((y2 - y1, x2 - x1), np.uint8)
    _fill_shape(local, box[0] - x1, box[1] - y1, box[2] - x1, box[3] - y1, shape)
    return (x1, y1, x2, y2), local.astype(bool)


def outer_int_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return (
        max(0, int(np.floor(x1))),
        max(0, int(np.floor(y1))),
        min(width, int(np.ceil(x2))),
        min(height, int(np.ceil(y2))),
    )


def _fill_shape(mask: np.ndarray, x1: float, y1: float, x2: float, y2: float, shape: str) -> None:
    h, w = mask.shape
    ix1, iy1, ix2, iy2 = outer_int_box((x1, y1, x2, y2), w, h)
    if ix2 <= ix1 or iy2 <= iy1:
        return
    if shape == "box":
        mask[iy1:iy2, ix1:ix2] = 1
        return
    # The ellipse is drawn into its (unclipped) box so that a face cut by the
    # image border keeps its shape; the axes round up.
    centre = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
    axes = (max(1, int(np.ceil((x2 - x1) / 2))), max(1, int(np.ceil((y2 - y1) / 2))))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, thickness=-1)
