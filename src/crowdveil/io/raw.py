"""RAW camera files (DNG, ARW, NEF, CR2/CR3, RAF, ORF…) developed with LibRaw (``rawpy``, the ``raw`` extra).

The photo is developed from the sensor data itself: demosaiced, camera white
balance, sRGB, 8 bits, turned upright by the file's orientation flag. The
embedded JPEG previews are never used: a preview is smaller than the photo,
may be cropped differently, and cleaning only it would leave faces in what
the file really holds. Only the developed pixels go on; nothing of the file
(EXIF, maker notes, previews, XMP) can ride along, as for every photo.

Where LibRaw cannot develop a file (a compression it does not know, as the
"high efficiency" DNGs of recent Nikon bodies, or a damaged file), it is
refused with what to export instead.
"""

from __future__ import annotations

import io

from ..errors import CorruptInput, TooLarge, UnsupportedFormat
from .decoded import DecodedImage, check_decode_memory

__all__ = ["decode_raw", "EXPORT_HINT"]

EXPORT_HINT = ("Convert it to JPEG first: export a JPEG (or a 16-bit TIFF) from your camera app or RAW editor "
               "(Lightroom, darktable, RawTherapee, Capture One), then run crowdveil on that file.")
_INSTALL_HINT = "Install RAW support with: pip install 'crowdveil[raw]' (LibRaw, through rawpy). " + EXPORT_HINT


def decode_raw(data: bytes, *, max_pixels: int, name: str = "") -> DecodedImage:
    """Develop a RAW file to an upright sRGB uint8 array.

    Raises:
        UnsupportedFormat: rawpy is not installed, or LibRaw cannot develop
            this file (its hint says what to export instead).
        TooLarge: the sensor size exceeds ``max_pixels``.
        CorruptInput: LibRaw fails part-way (a damaged file).
    """
    label = name or "RAW file"
    try:
        import rawpy
    except ImportError as exc:
        raise UnsupportedFormat(f"{label} is a RAW camera file, and RAW support is not installed",
                                hint=_INSTALL_HINT) from exc
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise UnsupportedFormat(
            f"{label} is a RAW camera file that LibRaw cannot develop ({_reason(exc)})", hint=EXPORT_HINT
        ) from exc
    with raw:
        sizes = raw.sizes
        width, height = int(sizes.width), int(sizes.height)
        if width * height > max_pixels:
            raise TooLarge(f"{label} declares {width}×{height} = {width * height / 1e6:.0f} megapixels, "
                           f"above the limit of {max_pixels / 1e6:.0f}")
        if width <= 0 or height <= 0:
            raise UnsupportedFormat(f"{label} is a RAW camera file with no image LibRaw can read", hint=EXPORT_HINT)
        # LibRaw holds the raw samples, a 16-bit 4-channel working image and the 8-bit result.
        check_decode_memory("RGBA", width * 3, height, max_pixels=max_pixels, label=label)
        try:
            pixels = raw.postprocess(
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                output_bps=8,
                no_auto_bright=False,
                user_flip=None,  # the file's own orientation: the result is upright
            )
        except (rawpy.LibRawError, OSError, ValueError, MemoryError) as exc:
            if isinstance(exc, MemoryError):
                raise TooLarge(f"{label} is too large to develop in the memory available") from exc
            if isinstance(exc, getattr(rawpy, "LibRawFileUnsupportedError", ())) or "nsupported" in str(exc):
                raise UnsupportedFormat(f"{label} is a RAW camera file that LibRaw cannot develop ({_reason(exc)})",
                                        hint=EXPORT_HINT) from exc
            raise CorruptInput(f"{label} is a damaged RAW file: LibRaw stopped developing it ({_reason(exc)})",
                               hint=EXPORT_HINT) from exc
    notes = [f"developed from the sensor data with LibRaw {'.'.join(map(str, rawpy.libraw_version))} "
             "(camera white balance, sRGB, 8 bits); embedded previews not used"]
    if sizes.flip not in (0, None):
        notes.append("orientation flag applied to the pixels")
    return DecodedImage(pixels=pixels, format="raw", notes=notes)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc.args[0] if exc.args else None, bytes):
        text = exc.args[0].decode("utf-8", "replace")
    return text.strip() or type(exc).__name__
