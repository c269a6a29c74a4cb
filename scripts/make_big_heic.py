"""Write a 200-megapixel HEIC (16384×12288, a grid of 1024-px HEVC tiles as
200 MP phones write it) with four faces, for checking crowdveil's memory.

    .venv/bin/python scripts/make_big_heic.py /tmp/big200.heic
    /usr/bin/time -v .venv/bin/crowdveil /tmp/big200.heic --out /tmp/big200-out --fast

Needs ~1.6 GB of memory and ~1.5 min; the file is ~260 KB (smooth
background). A single HEVC image cannot hold more than 142.6 M luma
samples, hence the grid. Never commit the output.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pillow_heif
from PIL import Image

from crowdveil.demo import astronaut_face

WIDTH, HEIGHT = 16384, 12288
FACES = [(1000, 1000, 400), (8000, 6000, 160), (14000, 10000, 60), (4000, 9000, 1200)]  # x, y, height


def main(path: str) -> None:
    started = time.time()
    rows = np.linspace(60, 200, HEIGHT, dtype=np.float32)[:, None]
    cols = np.linspace(80, 180, WIDTH, dtype=np.float32)[None, :]
    canvas = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    canvas[..., 0] = (rows * 0.5 + cols * 0.5).astype(np.uint8)
    canvas[..., 1] = (rows * 0.7 + 40).astype(np.uint8)
    canvas[..., 2] = (cols * 0.6 + 30).clip(0, 255).astype(np.uint8)
    face = Image.fromarray(astronaut_face())
    for x, y, h in FACES:
        w = round(h * face.width / face.height)
        canvas[y : y + h, x : x + w] = np.asarray(face.resize((w, h)))
    heif = pillow_heif.from_bytes(mode="RGB", size=(WIDTH, HEIGHT), data=canvas.tobytes())
    del canvas
    heif.save(path, quality=40, tile_size=1024)
    print(f"wrote {path} ({WIDTH}×{HEIGHT}) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/big200.heic")
