"""WIDER FACE ground truth: the annotation file and image folders of a root.

Layout (as in the official release)::

    ROOT/WIDER_val/images/<event>/<file>.jpg
    ROOT/wider_face_split/wider_face_val_bbx_gt.txt

Each block of the annotation file is a relative image path, a face count
and that many ``x y w h blur expression illumination invalid occlusion pose``
lines; an image with no faces has a count of 0 and one all-zero line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GT_FILE = Path("wider_face_split") / "wider_face_val_bbx_gt.txt"
IMAGES_DIR = Path("WIDER_val") / "images"


@dataclass(frozen=True)
class WiderImage:
    """One annotated image.

    Attributes:
        relpath: ``<event>/<file>.jpg``, relative to ``WIDER_val/images``.
        boxes: (N, 4) int ``x y w h`` as annotated (zero-size boxes kept).
        invalid: (N,) bool, the ``invalid`` flag.
    """

    relpath: str
    boxes: np.ndarray
    invalid: np.ndarray

    @property
    def event(self) -> str:
        return self.relpath.split("/", 1)[0]

    @property
    def scored(self) -> np.ndarray:
        """Faces the benchmark counts: valid and with a positive width and height."""
        return ~self.invalid & (self.boxes[:, 2] > 0) & (self.boxes[:, 3] > 0)

    @property
    def xyxy(self) -> np.ndarray:
        b = self.boxes.astype(np.float32)
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:4]], axis=1)


def parse_ground_truth(text: str) -> list[WiderImage]:
    """Parse the text of a ``wider_face_*_bbx_gt.txt`` file.

    Raises:
        ValueError: the text is not in that format (truncated block, bad number).
    """
    lines = text.splitlines()
    images: list[WiderImage] = []
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if not name:
            i += 1
            continue
        if i + 1 >= len(lines):
            raise ValueError(f"line {i + 1}: {name!r} has no face count")
        try:
            count = int(lines[i + 1])
        except ValueError as exc:
            raise ValueError(f"line {i + 2}: face count expected, got {lines[i + 1]!r}") from exc
        rows = max(count, 1)  # a 0-face image still has one all-zero line
        block = lines[i + 2 : i + 2 + rows]
        if len(block) < rows:
            raise ValueError(f"{name}: {rows} box lines expected, file ends after {len(block)}")
        values = np.array([[int(v) for v in line.split()[:10]] for line in block[:count]], np.int64).reshape(-1, 10)
        images.append(WiderImage(name, values[:, :4].copy(), values[:, 7].astype(bool)))
        i += 2 + rows
    return images


def load_wider(root: str | Path) -> list[tuple[Path, WiderImage]]:
    """Every annotated image under ``root`` with its file path.

    Raises:
        FileNotFoundError: the annotation file or an annotated image is missing.
    """
    root = Path(root)
    gt = root / GT_FILE
    if not gt.is_file():
        raise FileNotFoundError(f"{gt} not found: not a WIDER FACE root")
    out = []
    for image in parse_ground_truth(gt.read_text()):
        path = root / IMAGES_DIR / image.relpath
        if not path.is_file():
            raise FileNotFoundError(f"{path} is annotated but missing")
        out.append((path, image))
    return out


def write_wider(root: str | Path, images: list[tuple[str, np.ndarray, list[tuple[int, int, int, int]]]], invalid=None) -> None:
    """Write a WIDER-format root (tests and fixtures): (relpath, RGB pixels, xywh boxes) per image.

    ``invalid`` optionally maps relpath to per-box invalid flags.
    """
    from PIL import Image

    root = Path(root)
    lines = []
    for relpath, pixels, boxes in images:
        path = root / IMAGES_DIR / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=95)
        flags = (invalid or {}).get(relpath, [0] * len(boxes))
        lines += [relpath, str(len(boxes))]
        lines += [f"{x} {y} {w} {h} 0 0 0 {int(f)} 0 0 " for (x, y, w, h), f in zip(boxes, flags)]
        if not boxes:
            lines.append("0 0 0 0 0 0 0 0 0 0 ")
    (root / GT_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / GT_FILE).write_text("\n".join(lines) + "\n")
