"""Settings for one run. Frozen: every stage reads the same values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

__all__ = ["Config", "STYLES", "SHAPES", "PRESETS", "COVERS", "Style", "Shape", "Preset"]

Style = Literal["fill", "mosaic", "blur"]
Shape = Literal["box", "ellipse"]
Preset = Literal["default", "fast"]

STYLES: tuple[Style, ...] = ("fill", "mosaic", "blur")
# What a run covers: faces always; text (plates, badges, signs) and whole bodies on request.
COVERS = ("faces", "text", "bodies")
SHAPES: tuple[Shape, ...] = ("box", "ellipse")
PRESETS: tuple[Preset, ...] = ("default", "fast")
ANIMATION_OUTPUTS = ("same", "mp4")


@dataclass(frozen=True)
class Config:
    """How to anonymize.

    Args:
        style: ``fill`` (default, irreversible), ``mosaic`` or ``blur``. Mosaic
            and blur are scaled to each face and calibrated so that a face
            recognizer matches them at chance (``crowdveil bench recognition``);
            weaker versions of both are matched, and an attacker trained on
            them does better than that recognizer: prefer ``fill``.
        shape: ``box`` or ``ellipse``.
        padding: extra margin on each side of a face box, as a share of the
            box (hair, ears and chin are identifying too). At least 0.25.
        fill_color: RGB of the solid fill; a constant, never derived from the face.
        preset: detector configuration; ``default`` favours recall, ``fast`` speed.
        threshold: detector score threshold; ``None`` uses the preset's.
        verify: always True: every output is re-read, re-detected and audited
            before it is kept, and nothing turns that off (``False`` is refused
            rather than silently ignored).
        max_megapixels: refuse images, and videos whose frames, declare a larger
            size; also a memory budget: an image whose decode would need more bytes
            than an 8-bit photo of this size is refused (``io.image.memory_budget``).
        jpeg_quality: quality of JPEG outputs.
        keep_audio: video only; audio is dropped by default (voices identify).
        overwrite: replace an existing *output* file (never an original).
        animation: animated GIF/WebP/APNG: ``same`` writes the same kind of
            animation back, ``mp4`` an H.264 MP4.
        cover: what to cover besides faces, which are always covered: ``text``
            (licence plates, badges, signs: found by a text detector, verified
            like faces) and ``bodies`` (each face's body, from the face's size
            and place; a body whose head is hidden or out of frame is missed).
            Any order; kept in the order of ``COVERS``, with ``faces`` first.
    """

    style: Style = "fill"
    shape: Shape = "box"
    padding: float = 0.3
    fill_color: tuple[int, int, int] = (128, 128, 128)
    preset: Preset = "default"
    threshold: float | None = None
    verify: bool = True
    max_megapixels: float = 250.0
    jpeg_quality: int = 92
    keep_audio: bool = False
    overwrite: bool = False
    animation: Literal["same", "mp4"] = "same"
    cover: tuple[str, ...] = ("faces",)

    def __post_init__(self) -> None:
        if self.verify is not True:
            raise ValueError("verify cannot be turned off: crowdveil keeps only outputs it has re-read and checked")
        cover = (self.cover,) if isinstance(self.cover, str) else tuple(self.cover)
        unknown = [c for c in cover if c not in COVERS]
        if unknown:
            raise ValueError(f"cover must be among {COVERS}, not {unknown[0]!r}")
        object.__setattr__(self, "cover", tuple(c for c in COVERS if c in cover or c == "faces"))
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, not {self.style!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, not {self.shape!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, not {self.preset!r}")
        if self.padding < 0.25:
            raise ValueError("padding below 0.25 leaves hair, ears and chin visible")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        if self.animation not in ANIMATION_OUTPUTS:
            raise ValueError(f"animation must be one of {ANIMATION_OUTPUTS}, not {self.animation!r}")
        if self.max_megapixels <= 0:
            raise ValueError("max_megapixels must be positive")

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)
