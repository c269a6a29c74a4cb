"""Photos in (Pillow, pillow-heif) and clean photos out.

Decoding gives an upright sRGB array (RGB or RGBA, uint8) and nothing else:
every byte of the output is written from that array, so no metadata can ride
along from the input.
"""

from __future__ import annotations

import io
import warnings
from typing import cast

import numpy as np
from PIL import Image, ImageCms, ImageOps

from ..errors import CorruptInput, TooLarge, UnsupportedFormat
from .formats import OUTPUTS
from .heif import SHARED_MODES, heif_pixels
from .decoded import (  # noqa: F401 - the memory budget is part of this module's interface
    _DEEP_GREY, BAND_PIXELS, DecodedImage, check_decode_memory, decode_peak_bytes, memory_budget,
)

try:  # HEIC/HEIF from phones; optional at import so a broken libheif only disables HEIC
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency
    pass

try:  # JPEG XL (newer phones, web exports); registering the plugin is importing it
    import pillow_jxl  # noqa: F401
except ImportError:  # pragma: no cover - pillow-jxl-plugin is a dependency
    pass

# Pillow's own bomb guard is process-wide and fixed; crowdveil checks the
# declared size itself against the configured limit before decoding.
Image.MAX_IMAGE_PIXELS = None

OUTPUT_FORMATS = {fmt: OUTPUTS[fmt] for fmt in ("jpeg", "png", "webp")}
_LOSSLESS_INPUTS = {"png", "bmp", "gif", "tiff", "pnm"}


def decode_image(data: bytes, fmt: str, *, max_pixels: int, name: str = "") -> DecodedImage:
    """Decode a still image to an upright sRGB array.

    Raises:
        CorruptInput: Pillow cannot decode it.
        TooLarge: the declared size exceeds ``max_pixels``.
        UnsupportedFormat: animations and multi-page files (refused, not
            silently reduced to their first frame; ``pipeline`` sends
            animations to the video pipeline before this), RAW files LibRaw
            cannot develop (``io.raw``).
    """
    label = name or "image"
    if fmt == "raw":  # developed from the sensor data, never Pillow's reading of its preview IFD
        from .raw import decode_raw

        return decode_raw(data, max_pixels=max_pixels, name=name)
    if fmt == "jxl":  # its Pillow plugin decodes every pixel while opening: check the size first
        _check_declared_size(*_jxl_declared_size(data, label), max_pixels=max_pixels, label=label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im: Image.Image = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > max_pixels:
                raise TooLarge(
                    f"{label} declares {w}×{h} = {w * h / 1e6:.0f} megapixels, above the limit of {max_pixels / 1e6:.0f}"
                )
            if w <= 0 or h <= 0:
                raise CorruptInput(f"{label} declares an empty size {w}×{h}")
            check_decode_memory(im.mode, w, h, max_pixels=max_pixels, label=label)
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":  # MPF previews, gain and depth maps are never shown: dropped
                raise UnsupportedFormat(
                    f"{label} holds {frames} frames (animation, burst or multi-page); crowdveil refuses "
                    "rather than clean only the first one",
                    hint="Export each page as its own JPEG/PNG, then run crowdveil (animated GIF, WebP and PNG "
                         "files are anonymized frame by frame by the crowdveil command).",
                )
            notes: list[str] = []
            if frames > 1:
                notes.append(f"{frames - 1} MPF secondary image(s) (previews, gain or depth maps, stereo views) dropped")
            shared, heif_notes = None, list[str]()
            if im.format == "HEIF" and im.mode in SHARED_MODES and not _turned(im):
                shared = heif_pixels(data, im.info.get("icc_profile"), heif_notes)
            if shared is not None:
                _upright(im, notes)  # no pixel is moved: only the notes
                notes += heif_notes
                pixels = shared
            else:
                im.load()
                im = _upright(im, notes)
                pixels = _to_srgb_array(im, notes)
    except (TooLarge, UnsupportedFormat, CorruptInput):
        raise
    except Image.DecompressionBombError as exc:  # pragma: no cover - limit disabled above
        raise TooLarge(f"{label}: {exc}") from exc
    except MemoryError as exc:
        raise TooLarge(f"{label} is too large to decode in the memory available") from exc
    except Exception as exc:  # Pillow and its plugins raise many untyped errors on bad input
        if "Security limit exceeded" in str(exc):  # libheif refuses > 1 GP while opening, before our check
            raise TooLarge(f"{label}: {str(exc).strip().split(': ', 1)[-1]}") from exc
        if fmt == "jxl" and "Generic Error" in str(exc):  # libjxl's one message, with advice meant for its developers
            raise CorruptInput(f"{label} could not be decoded as JPEG XL: the decoder stopped (the file is damaged "
                               "or cut short)") from exc
        raise CorruptInput(f"{label} could not be decoded as {fmt.upper()}: {type(exc).__name__}: {exc}") from exc
    return DecodedImage(pixels=pixels, format=fmt, notes=notes)


def _jxl_declared_size(data: bytes, label: str) -> tuple[int, int]:
    from .jxl import declared_size

    return declared_size(data, label)


def _check_declared_size(width: int, height: int, *, max_pixels: int, label: str) -> None:
    if width * height > max_pixels:
        raise TooLarge(
            f"{label} declares {width}×{height} = {width * height / 1e6:.0f} megapixels, above the limit of {max_pixels / 1e6:.0f}"
        )
    check_decode_memory("RGBA", width, height, max_pixels=max_pixels, label=label)


# The EXIF orientations that move pixels (ImageOps.exif_transpose's table).
_TRANSPOSING = (2, 3, 4, 5, 6, 7, 8)


def _turned(im: Image.Image) -> bool:
    """Whether ``_upright`` would move pixels (or say the EXIF is unreadable) for ``im``."""
    try:
        return im.getexif().get(0x0112, 1) in _TRANSPOSING
    except Exception:  # malformed EXIF: Pillow raises assorted errors
        return True


def _upright(im: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation to the pixels; damaged EXIF leaves them as stored
    (the redaction is drawn on the same pixels either way)."""
    try:
        orientation = im.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            notes.append(f"EXIF orientation {orientation} applied to the pixels")
        if orientation not in _TRANSPOSING:
            return im  # exif_transpose would return a copy of the same pixels (4 bytes a pixel)
        return ImageOps.exif_transpose(im) or im
    except Exception:  # malformed EXIF: Pillow raises assorted errors
        notes.append("EXIF unreadable; pixels kept in stored orientation")
        return im


def _to_srgb_array(im: Image.Image, notes: list[str]) -> np.ndarray:
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode in _DEEP_GREY:
        notes.append(f"{mode} samples reduced to 8 bits")
        return _deep_grey_to_rgb(im)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info)
    if icc and mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            alpha = im.getchannel("A") if has_alpha else None
            base = im.convert("L") if mode in ("L", "LA") else (im.convert("RGB") if mode == "RGBA" else im)
            im = cast(Image.Image, ImageCms.profileToProfile(base, src, ImageCms.createProfile("sRGB"), outputMode="RGB"))
            del base
            if alpha is not None:
                im.putalpha(alpha)
            notes.append("colour converted to sRGB from the embedded profile")
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("embedded colour profile unreadable; colours used as they are")
    target = "RGBA" if has_alpha else "RGB"
    if im.mode != target:
        im = im.convert(target)
    out = np.empty((im.height, im.width, len(target)), np.uint8)
    for top, band in _bands(im):
        out[top : top + len(band)] = band
    return out


def _bands(im: Image.Image):
    """(first row, pixels) of ``im`` in bands of rows, each a small numpy copy."""
    rows = max(1, BAND_PIXELS // max(1, im.width))
    for top in range(0, im.height, rows):
        yield top, np.asarray(im.crop((0, top, im.width, min(im.height, top + rows))))


def _deep_grey_to_rgb(im: Image.Image) -> np.ndarray:
    """8-bit grey RGB of a 16/32-bit or float image, rounded to nearest.

    16-bit samples become ``(v + 128) // 257`` (= round(v × 255 / 65535)) in
    integer arithmetic; a float64 conversion of the whole image used to take
    26 bytes a pixel (5.8 GB for a 437 KB 15000×15000 PNG). 32-bit and float
    images are scaled from 0–255, or 0–65535 when a sample exceeds 255, as before.
    """
    mode = im.mode
    if mode.startswith("I;16"):
        top = 65535
    else:
        lo, hi = cast(tuple[float, float], im.getextrema())  # computed by Pillow without a copy of the pixels
        top = 65535 if hi > 255 else 255
    out = np.empty((im.height, im.width, 3), np.uint8)
    for first, band in _bands(im):
        if mode == "F":
            grey = np.nan_to_num(band * np.float32(255.0 / top) + np.float32(0.5), nan=0.0)
            grey = np.clip(grey, 0, 255).astype(np.uint8)
        else:
            v = np.clip(band, 0, top).astype(np.uint32)  # 65535 + 128 fits; no int64 temporaries
            if top == 65535:
                v += 128
                v //= 257
            grey = v.astype(np.uint8)
        out[first : first + len(band)] = grey[:, :, None]
    return out


def output_format(input_format: str, has_alpha: bool) -> str:
    """JPEG for lossy inputs (HEIC, JPEG XL, developed RAW in → JPEG out), PNG for
    lossless ones (PNM in → PNG out) and anything with transparency, WebP stays WebP."""
    if input_format == "webp":
        return "webp"
    if has_alpha or input_format in _LOSSLESS_INPUTS:
        return "png"
    return "jpeg"


def format_for_suffix(suffix: str) -> str | None:
    return {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}.get(suffix.lower())


def encode_image(pixels: np.ndarray, fmt: str, *, jpeg_quality: int = 92) -> bytes:
    """Encode ``pixels`` with no metadata at all: a fresh Pillow image has an
    empty ``info``, and nothing (EXIF, ICC, XMP, text) is passed to ``save``."""
    return encode_clean(clean_image(pixels), fmt, jpeg_quality=jpeg_quality)


def clean_image(pixels: np.ndarray) -> Image.Image:
    """A fresh Pillow image (empty ``info``) of ``pixels``: Pillow's own copy, so the array may go."""
    return Image.fromarray(np.ascontiguousarray(pixels), "RGBA" if pixels.shape[2] == 4 else "RGB")


def encode_clean(im: Image.Image, fmt: str, *, jpeg_quality: int = 92) -> bytes:
    """Encode ``im`` from ``clean_image`` with nothing (EXIF, ICC, XMP, text) passed to ``save``."""
    mode = im.mode
    buf = io.BytesIO()
    if fmt == "jpeg":
        if mode == "RGBA":
            raise UnsupportedFormat("JPEG cannot hold transparency", hint="Write PNG or WebP instead.")
        im.save(buf, "JPEG", quality=jpeg_quality, optimize=True)
    elif fmt == "png":
        im.save(buf, "PNG", optimize=False, compress_level=6)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=90, method=4)
    else:
        raise UnsupportedFormat(f"crowdveil does not write {fmt}", hint="Write JPEG, PNG or WebP.")
    return buf.getvalue()
