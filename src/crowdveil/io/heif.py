"""HEIC/HEIF pixels straight from libheif's buffer, without Pillow's copies.

Through Pillow, a decoded HEIC is held three times at once: libheif's buffer
(3 bytes a pixel), Pillow's copy of it (4 bytes a pixel) and the output array
(3): 2 GB for a 200 MP photo before any other work. ``np.asarray`` of a
pillow-heif image shares libheif's buffer (read-only), so here it is copied
once, band by band through the colour transform when there is an embedded
profile, into the array the pipeline works on. The pixels are the ones
Pillow's path gives: the same decode (pillow-heif's own opener settings), the
same LittleCMS transform (applied to each pixel on its own, so bands change
nothing).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

from .decoded import BAND_PIXELS

# How pillow-heif's Pillow opener opens a file (``as_plugin._LibHeifImageFile._open``).
_OPEN = {"convert_hdr_to_8bit": True, "hdr_to_16bit": True, "remove_stride": False}
SHARED_MODES = ("RGB", "RGBA")


def heif_pixels(data: bytes, icc: bytes | None, notes: list[str]) -> np.ndarray | None:
    """(H, W, 3|4) uint8 sRGB pixels of the primary image of the HEIF file ``data``;
    ``None`` when libheif's image is not 8-bit RGB(A) (Pillow's path decodes it then).

    ``icc`` is the embedded profile as Pillow reports it; the notes say what
    ``image._to_srgb_array`` says for the same file.
    """
    import pillow_heif

    heif_file = pillow_heif.open_heif(io.BytesIO(data), **_OPEN)
    decoded = _shared(heif_file[heif_file.primary_index])
    del heif_file
    if decoded is None:
        return None
    transform = _to_srgb(icc, notes) if icc else None
    if transform is not None:
        try:
            out = _bands(decoded, transform)
            notes.append("colour converted to sRGB from the embedded profile")
            return out
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("embedded colour profile unreadable; colours used as they are")
    return _bands(decoded, None)


def _shared(frame) -> np.ndarray | None:
    """A read-only (H, W, C) view of a decoded pillow-heif image's buffer.

    Its rows are ``stride`` bytes apart, padding included, as Pillow's opener
    reads them; ``np.asarray(frame)`` assumes rows of whole pixels, which a
    stride that is no multiple of 3 (e.g. 2566 px wide) breaks.
    """
    buffer = frame.data  # decodes; the size can change while decoding (pillow-heif's opener reads it after)
    channels = {"RGB": 3, "RGBA": 4}.get(frame.mode)
    width, height = frame.size
    stride = frame.stride
    flat = np.frombuffer(buffer, np.uint8)
    if channels is None or height <= 0 or stride < width * channels or flat.size < stride * (height - 1) + width * channels:
        return None
    return np.lib.stride_tricks.as_strided(flat, (height, width, channels), (stride, channels, 1), writeable=False)


def _bands(decoded: np.ndarray, transform: ImageCms.ImageCmsTransform | None) -> np.ndarray:
    out = np.empty(decoded.shape, np.uint8)
    rows = max(1, BAND_PIXELS // max(1, decoded.shape[1]))
    for top in range(0, decoded.shape[0], rows):
        band = decoded[top : top + rows]
        if transform is None:
            out[top : top + len(band)] = band
            continue
        rgb = Image.fromarray(np.ascontiguousarray(band[:, :, :3]), "RGB")
        out[top : top + len(band), :, :3] = np.asarray(transform.apply(rgb))
        if band.shape[2] == 4:
            out[top : top + len(band), :, 3] = band[:, :, 3]
    return out


def _to_srgb(icc: bytes, notes: list[str]) -> ImageCms.ImageCmsTransform | None:
    """The transform ``ImageCms.profileToProfile`` would build for an RGB image; ``None`` (and the note) when unreadable."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.ImageCmsTransform(src, ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")), "RGB", "RGB",
                                          ImageCms.Intent.PERCEPTUAL, flags=ImageCms.Flags.NONE)
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append("embedded colour profile unreadable; colours used as they are")
        return None
