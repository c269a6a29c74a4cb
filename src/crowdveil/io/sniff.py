"""What a file is, from its first bytes (never from its name alone)."""

from __future__ import annotations

from pathlib import Path

from ..errors import CorruptInput, UnsupportedFormat

PHOTO_FORMATS = ("jpeg", "png", "webp", "gif", "bmp", "tiff", "heif", "avif")
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm", "avi")

RAW_EXTENSIONS = {
    ".dng", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
    ".raf", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".rwl",
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MOV_BRANDS = {b"qt  "}


def sniff(head: bytes, name: str = "") -> str:
    """Return the format name of a file from its first 64+ bytes.

    Raises:
        CorruptInput: the file is empty.
        UnsupportedFormat: RAW camera files and anything not listed above.
    """
    if not head:
        raise CorruptInput(f"{name or 'file'} is empty (0 bytes)")
    suffix = Path(name).suffix.lower()
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head.startswith(b"FUJIFILMCCD-RAW") or head[:4] in (b"IIRO", b"IIU\x00") or head[8:10] == b"CR":
        raise _raw(name)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        if suffix in RAW_EXTENSIONS:
            raise _raw(name)
        return "tiff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = {head[i : i + 4] for i in range(16, min(len(head), 64), 4)}
        if brand == b"crx ":
            raise _raw(name)
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIF_BRANDS or (compatible & _HEIF_BRANDS and not compatible & {b"isom", b"mp41", b"mp42"}):
            return "heif"
        if brand in _MOV_BRANDS:
            return "mov"
        return "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"  # old QuickTime files have no ftyp
    raise UnsupportedFormat(
        f"{name or 'file'} is not a photo or video format crowdveil reads",
        hint="Supported: JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, BMP, GIF; MP4, MOV, MKV, WebM, AVI.",
    )


def _raw(name: str) -> UnsupportedFormat:
    return UnsupportedFormat(
        f"{name or 'file'} is a RAW camera file, which crowdveil does not read "
        "(its embedded previews would be easy to miss)",
        hint="Convert it to JPEG first (in your camera app or a RAW editor), then run crowdveil on the JPEG.",
    )


def media_kind(fmt: str) -> str:
    return "video" if fmt in VIDEO_FORMATS else "photo"
