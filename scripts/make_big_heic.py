"""Write a 200-megapixel HEIC (16384×12288, a grid of 1024-px HEVC tiles as
200 MP phones write it) with four faces, for checking crowdveil's memory.

    .venv/bin/python scripts/make_big_heic.py /tmp/big200.heic
    /usr/bin/time -v .venv/bin/crowdveil /tmp/big200.heic --out /tmp/big200-out

Needs ~1.6 GB of memory and ~1.5 min; the file is ~260 KB (smooth
background). A single HEVC image cannot hold more than 142.6 M luma
samples, hence the grid. Never commit the output. ``crowdveil bench memory``
writes the same photo (``crowdveil.bench.big_photo``), runs the command on
it and on 48 MP photos, and checks the planted faces.
"""

from __future__ import annotations

import sys
import time

from crowdveil.bench.big_photo import BIG_FACES as FACES, BIG_HEIGHT as HEIGHT, BIG_WIDTH as WIDTH, write_big_photo

__all__ = ["FACES", "HEIGHT", "WIDTH", "main"]


def main(path: str) -> None:
    started = time.time()
    write_big_photo(path, WIDTH, HEIGHT)
    print(f"wrote {path} ({WIDTH}×{HEIGHT}) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/big200.heic")
