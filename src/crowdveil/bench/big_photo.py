"""Large synthetic photos with planted faces, for measuring memory (``crowdveil bench memory``).

A smooth gradient (a few hundred KB even at 200 MP) with the demo face pasted
at a few sizes. ``scripts/make_big_heic.py`` writes the 200 MP HEIC with the
same generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The 200 MP photo of scripts/make_big_heic.py: 16384×12288, as 200 MP phones write it.
BIG_WIDTH, BIG_HEIGHT = 16384, 12288
# (x, y, face height) at 16384×12288; other sizes scale them.
BIG_FACES = [(1000, 1000, 400), (8000, 6000, 160), (14000, 10000, 60), (4000, 9000, 1200)]


@dataclass(frozen=True)
class PlantedPhoto:
    path: Path
    width: int
    height: int
    faces: list[tuple[int, int, int, int]]  # x1, y1, x2, y2 of each planted face


MIN_FACE = 32


def planted_faces(width: int, height: int) -> list[tuple[int, int, int]]:
    """``BIG_FACES`` placed on ``width``×``height`` (x, y, face height).

    Positions scale with the picture; heights stay those of the 200 MP photo
    down to ~12 MP (a phone's 48 MP photo gets the same 60-px face), and
    shrink (to ``MIN_FACE`` at least) below, so that they fit.
    """
    shrink = min(1.0, 4 * min(width / BIG_WIDTH, height / BIG_HEIGHT))
    out = []
    for x, y, h in BIG_FACES:
        h = min(height, max(MIN_FACE, round(h * shrink)))
        x, y = round(x * width / BIG_WIDTH), round(y * height / BIG_HEIGHT)
        out.append((max(0, min(x, width - face_width(h))), max(0, min(y, height - h)), h))
    return out


def face_width(height: int) -> int:
    """The width of the demo face pasted ``height`` px tall."""
    from ..demo import astronaut_face

    face = astronaut_face()
    return round(height * face.shape[1] / face.shape[0])


def big_canvas(width: int, height: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """(H, W, 3) uint8 gradient with the demo face planted at ``planted_faces``, and the face boxes."""
    from PIL import Image

    from ..demo import astronaut_face

    rows = np.linspace(60, 200, height, dtype=np.float32)[:, None]
    cols = np.linspace(80, 180, width, dtype=np.float32)[None, :]
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[..., 0] = (rows * 0.5 + cols * 0.5).astype(np.uint8)
    canvas[..., 1] = (rows * 0.7 + 40).astype(np.uint8)
    canvas[..., 2] = (cols * 0.6 + 30).clip(0, 255).astype(np.uint8)
    face = Image.fromarray(astronaut_face())
    boxes = []
    for x, y, h in planted_faces(width, height):
        w = round(h * face.width / face.height)
        canvas[y : y + h, x : x + w] = np.asarray(face.resize((w, h)))
        boxes.append((x, y, x + w, y + h))
    return canvas, boxes


def write_big_photo(path: str | Path, width: int = BIG_WIDTH, height: int = BIG_HEIGHT) -> PlantedPhoto:
    """Write the planted photo as HEIC (a grid of 1024-px HEVC tiles, ``.heic``) or JPEG (``.jpg``).

    A single HEVC image cannot hold more than 142.6 M luma samples, hence the grid.
    """
    path = Path(path)
    canvas, boxes = big_canvas(width, height)
    if path.suffix.lower() in (".heic", ".heif"):
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB", size=(width, height), data=canvas.tobytes())
        del canvas
        heif.save(str(path), quality=40, tile_size=1024)
    elif path.suffix.lower() in (".jpg", ".jpeg"):
        from PIL import Image

        im = Image.fromarray(canvas)
        del canvas
        im.save(path, "JPEG", quality=90)
    else:
        raise ValueError(f"write a .heic or .jpg, not {path.suffix}")
    return PlantedPhoto(path, width, height, boxes)
