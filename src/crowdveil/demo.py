"""The bundled demo: a synthetic "crowd" made from a real face that ships
in a PyPI package (scikit-image's astronaut), with the metadata a phone
would leave: GPS position, camera serial, timestamps and a thumbnail."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import SetupError

# Face heights in px; 10 to 300, denser at the small end where detectors struggle.
DEMO_FACE_SIZES = [10, 12, 14, 16, 18, 20, 23, 26, 30, 34, 38, 44, 50, 58, 66, 76, 88, 100, 116, 134, 156, 180, 210, 250, 300]
# The astronaut's head within skimage.data.astronaut() (x1, y1, x2, y2):
# face plus a little hair and chin, so a paste of height h is an h-px face.
_FACE_CROP = (165, 35, 285, 195)


def astronaut_face() -> np.ndarray:
    data = _demo_module("skimage.data", "scikit-image")

    x1, y1, x2, y2 = _FACE_CROP
    return data.astronaut()[y1:y2, x1:x2].copy()


def make_crowd(width: int = 1800, height: int = 1200, seed: int = 7) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Paste the face at every size in ``DEMO_FACE_SIZES``; return pixels and face boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([90 + 60 * yy / height, 110 + 40 * xx / width, 80 + 30 * np.sin(xx / 90)], axis=2)
    canvas = (background + rng.normal(0, 6, background.shape)).clip(0, 255).astype(np.uint8)
    face = Image.fromarray(astronaut_face())
    aspect = face.width / face.height
    boxes: list[tuple[int, int, int, int]] = []
    x, y, row_h = 20, 20, 0
    for size in DEMO_FACE_SIZES:
        w = max(1, round(size * aspect))
        if x + w + 20 > width:
            x, y, row_h = 20, y + row_h + 40, 0
        canvas[y : y + size, x : x + w] = np.asarray(face.resize((w, size), Image.Resampling.LANCZOS))
        boxes.append((x, y, x + w, y + size))
        x += w + max(30, size // 2)
        row_h = max(row_h, size)
    return canvas, boxes


def phone_exif(thumbnail: bytes | None = None) -> bytes:
    """EXIF as a phone writes it: GPS, make/model, serial, timestamps, thumbnail."""
    piexif = _demo_module("piexif", "piexif")

    exif = {
        "0th": {piexif.ImageIFD.Make: b"DemoPhone", piexif.ImageIFD.Model: b"DP-1", piexif.ImageIFD.Software: b"demo 1.0",
                piexif.ImageIFD.DateTime: b"2026:11:01 14:03:00"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2026:11:01 14:03:00", piexif.ExifIFD.BodySerialNumber: b"SN-0042-DEMO"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2400, 100)),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((2, 1), (17, 1), (4000, 100))},
        "1st": {}, "thumbnail": thumbnail,
    }
    return piexif.dump(exif)


def _demo_module(module: str, distribution: str):
    """The demo's own dependencies are an extra (``crowdveil[demo]``): anonymizing needs neither."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SetupError(f"the demo needs {distribution}, which is not installed",
                         hint="pip install 'crowdveil[demo]' (with pipx: pipx inject crowdveil scikit-image piexif)") from exc


def write_demo(path: Path) -> list[tuple[int, int, int, int]]:
    """Write the demo crowd JPEG to ``path``; return its face boxes."""
    pixels, boxes = make_crowd()
    im = Image.fromarray(pixels)
    thumb = io.BytesIO()
    im.resize((160, 107)).save(thumb, "JPEG", quality=70)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "JPEG", quality=92, exif=phone_exif(thumb.getvalue()))
    return boxes


def coverage_of(report, boxes, share: float = 0.8) -> int:
    """How many demo faces the report's redaction regions cover by ≥ ``share``."""
    from .redact.regions import redaction_regions, region_mask
    from .types import Detections

    if not report.passed:
        return 0
    faces = Detections.from_boxes([f["box"] for f in report.faces]) if report.faces else Detections.empty()
    regions = redaction_regions(faces, 0.3, report.width, report.height)
    mask = region_mask(report.height, report.width, regions, "box")
    return sum(mask[y1:y2, x1:x2].mean() >= share for x1, y1, x2, y2 in boxes)
