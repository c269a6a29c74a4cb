"""``crowdveil bench photos --closeups``: the benchmark's big faces cut out and enlarged; are they still covered?

The WIDER crowds hold few faces that fill the picture, but a protester's
portrait, a selfie or a journalist's close-up is mostly face. Each scored
face of ``CLOSEUP_MIN_PX`` or more is cut with ``CLOSEUP_CONTEXT`` times its
longer side around it (black outside the photo) and enlarged so that the face
is SIZE px tall, then anonymized like any photo (crowdveil: verification and
repairs included; deface: its own pass). It is exposed when less than
``metrics.COVERED`` of its box is painted.

A rule tuned on the crowds alone can trade these faces for a few grey
blossoms on a flower photo (README, "How well it works"): this is the
measurement that catches it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .wider import WiderImage

CLOSEUP_MIN_PX = 96
CLOSEUP_CONTEXT = 3.0
DEFAULT_SIZES = (320, 160)


def closeup(image: np.ndarray, xywh, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The face at ``xywh`` of ``image``, cut with context and enlarged so it is ``size`` px tall.

    Returns the square picture (RGB uint8, black where the cut leaves the
    photo) and the face's box in it (``x y w h``, whole pixels).
    """
    x, y, w, h = (float(v) for v in xywh)
    side = int(round(CLOSEUP_CONTEXT * max(w, h)))
    x1, y1 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
    canvas = np.zeros((side, side, 3), np.uint8)
    height, width = image.shape[:2]
    ix1, iy1, ix2, iy2 = max(0, x1), max(0, y1), min(width, x1 + side), min(height, y1 + side)
    if ix2 > ix1 and iy2 > iy1:
        canvas[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = image[iy1:iy2, ix1:ix2, :3]
    factor = size / h
    enlarged = cv2.resize(canvas, (round(side * factor),) * 2, interpolation=cv2.INTER_CUBIC)
    face = np.array([(x - x1) * factor, (y - y1) * factor, w * factor, h * factor]).round().astype(np.int64)
    return np.ascontiguousarray(enlarged), face


def closeup_faces(items: list[tuple[Path, WiderImage]]) -> list[tuple[Path, np.ndarray]]:
    """``(photo, x y w h)`` of every scored face of ``CLOSEUP_MIN_PX`` or more, in the benchmark's order."""
    return [(path, box) for path, image in items for box in image.boxes[image.scored] if box[3] >= CLOSEUP_MIN_PX]


def closeup_pictures(faces: list[tuple[Path, np.ndarray]], sizes: tuple[int, ...]):
    """Each close-up at each size: ``(size, pixels, face x y w h)``; each photo read once."""
    from PIL import Image

    photo, image = None, np.zeros((0, 0, 3), np.uint8)
    for path, box in faces:
        if photo != path:
            photo, image = path, np.asarray(Image.open(path).convert("RGB"))
        for size in sizes:
            yield (size, *closeup(image, box, size))


def closeup_summary(faces: int, exposed: dict[int, int]) -> dict:
    """The JSON keys: how many close-ups, and how many left exposed at each face size."""
    return {"closeups_faces": faces, "closeups_exposed": {str(size): n for size, n in exposed.items()}}
