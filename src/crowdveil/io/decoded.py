"""What a photo decoder hands back, and how much memory decoding may take.

Shared by the decoders of ``io/`` (Pillow's in ``image.py``, LibRaw's in
``raw.py``), so that none of them imports another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import TooLarge

__all__ = ["DecodedImage", "PixelSource", "BAND_PIXELS", "decode_peak_bytes", "memory_budget", "check_decode_memory"]

# Greyscale modes deeper than 8 bits (16-bit PNG/TIFF, 32-bit integer and float TIFF).
_DEEP_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
# Pixels converted at a time: numpy's asarray copies the whole image (Image.tobytes)
# and arithmetic makes temporaries, so a deep image is converted a band of rows at a
# time straight into the output; its working memory stays this small whatever its size.
BAND_PIXELS = 1 << 20


@dataclass
class DecodedImage:
    pixels: np.ndarray  # (H, W, 3|4) uint8, upright, sRGB
    format: str
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] == 4


class PixelSource:
    """A photo's pixels for the redaction rounds, held by nobody else.

    The decoded array is handed over by the first ``take`` (painted in place,
    then let go before the output is re-read: a 200 MP photo is never held
    twice); a repair round's ``take`` decodes the original again from its
    bytes. Built from an array alone (the benchmark's), ``take`` returns that
    same array every time and ``owned`` is False: the caller paints a copy.
    """

    def __init__(self, pixels: np.ndarray, decode_again: Callable[[], np.ndarray] | None = None) -> None:
        self._pixels: np.ndarray | None = pixels
        self._decode_again = decode_again
        self.shape: tuple[int, ...] = pixels.shape

    @property
    def owned(self) -> bool:
        return self._decode_again is not None

    def take(self) -> np.ndarray:
        if self._decode_again is None:
            assert self._pixels is not None
            return self._pixels
        pixels, self._pixels = self._pixels, None
        return pixels if pixels is not None else self._decode_again()


# -- memory budget --------------------------------------------------------------------------------

# Bytes a pixel of each Pillow mode takes in Pillow's own storage.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
for _mode in ("LA", "La", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"):
    _STORED_BYTES[_mode] = 4
# A mode Pillow (or a plugin) may add later is budgeted as if it were twice as deep
# as any known one: refused sooner rather than trusted.
_UNKNOWN_STORED_BYTES = 8


def decode_peak_bytes(mode: str, width: int, height: int) -> int:
    """What decoding an image of ``mode`` holds at its peak, in bytes, an upper bound.

    Pillow's decoded image, a turned copy of it (EXIF orientation), two
    colour-converted copies (embedded profile), the output array (at most
    4 bytes a pixel) and one band of conversion temporaries. The 16-bit and
    float paths convert band by band and never take the colour path.
    """
    stored = _STORED_BYTES.get(mode, _UNKNOWN_STORED_BYTES)
    colour = 0 if mode in _DEEP_GREY else 2 * 4
    return width * height * (2 * stored + colour + 4) + 32 * BAND_PIXELS


def memory_budget(max_pixels: int) -> int:
    """The bytes a decode may take: what an 8-bit RGBA photo of ``max_pixels`` needs.

    The pixel limit is thereby a limit in bytes too: no 8-bit photo under it
    is refused, and a deeper format gets fewer pixels for the same memory.
    """
    return decode_peak_bytes("RGBA", max_pixels, 1)


def check_decode_memory(mode: str, width: int, height: int, *, max_pixels: int, label: str = "image") -> None:
    """Refuse, before any pixel is decoded, an image that would need more than the budget.

    Raises:
        TooLarge: with the size, the mode and how much memory it would take.
    """
    need, budget = decode_peak_bytes(mode, width, height), memory_budget(max_pixels)
    if need > budget:
        raise TooLarge(
            f"{label} ({width}×{height}, {mode}) would need about {need / 1e9:.1f} GB to decode, above the "
            f"{budget / 1e9:.1f} GB that the limit of {max_pixels / 1e6:.0f} megapixels allows",
            hint="Convert it to an 8-bit PNG or JPEG, or raise --max-megapixels if you trust the file.",
        )
