"""What a file is, from its first bytes (never from its name alone).

Callers pass the first ``SNIFF_BYTES`` bytes: MPEG transport streams are
recognised by their sync bytes one 188-byte packet apart, and a DNG by the
DNGVersion tag in its first IFD. With fewer bytes (64 at least) each format
is still told apart by its signature alone.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import CorruptInput, UnsupportedFormat
from .formats import ANIMATABLE_FORMATS, PHOTO_FORMATS, RAW_SUFFIXES, VIDEO_FORMATS, kind_of, supported_list

__all__ = ["SNIFF_BYTES", "sniff", "raw_container", "media_kind", "PHOTO_FORMATS", "VIDEO_FORMATS", "ANIMATABLE_FORMATS"]

SNIFF_BYTES = 4096

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MOV_BRANDS = {b"qt  "}
_3GP_BRANDS = {b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs6", b"3gs7", b"3ge6", b"3ge7", b"3gg6", b"3g2a", b"3g2b", b"3g2c"}
_ASF_HEADER = bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C")
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_TS_PACKET = 188
_DNG_VERSION = 0xC612


def sniff(head: bytes, name: str = "") -> str:
    """Return the format name of a file from its first bytes (``SNIFF_BYTES`` of them, 64 at least).

    Raises:
        CorruptInput: the file is empty.
        UnsupportedFormat: anything not in ``io.formats``.
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
    if head.startswith(_JXL_CONTAINER) or head[:2] == b"\xff\x0a":
        return "jxl"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n#":
        return "pnm"
    if head.startswith(b"FUJIFILMCCD-RAW") or head[:4] in (b"IIRO", b"IIRS", b"MMOR", b"IIU\x00", b"FOVb") \
            or (head[:4] in (b"II*\x00", b"MM\x00*") and head[8:10] == b"CR"):
        return "raw"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        if suffix in RAW_SUFFIXES or _is_dng(head):  # NEF, ARW, PEF…: their first IFD does not say so
            return "raw"
        return "tiff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = {head[i : i + 4] for i in range(16, min(len(head), 64), 4)}
        if brand == b"crx ":
            return "raw"
        if brand in _AVIF_BRANDS:
            return "avif"
        if brand in _HEIF_BRANDS or (compatible & _HEIF_BRANDS and not compatible & {b"isom", b"mp41", b"mp42"}):
            return "heif"
        if brand in _MOV_BRANDS:
            return "mov"
        if brand in _3GP_BRANDS:
            return "3gp"
        return "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"  # old QuickTime files have no ftyp
    if head[:16] == _ASF_HEADER:
        return "asf"
    if head[:4] == b"FLV\x01":
        return "flv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # MPEG program stream pack / MPEG-1 video sequence
        return "mpegps"
    if _is_transport_stream(head):
        return "mpegts"
    raise UnsupportedFormat(
        f"{name or 'file'} is not a photo or video format crowdveil reads",
        hint=f"Supported: {supported_list()}.",
    )


def _is_transport_stream(head: bytes) -> bool:
    """188-byte packets with a 0x47 sync byte each (``.ts``), or 192-byte ones with a 4-byte
    time code first (AVCHD ``.mts``/``.m2ts``). Two syncs in a row are needed when the head
    holds them; a 64-byte head can show one."""
    for first, step in ((0, _TS_PACKET), (4, _TS_PACKET + 4)):
        if len(head) > first and head[first] == 0x47:
            syncs = [head[i] for i in range(first, min(len(head), first + 3 * step), step)]
            if all(s == 0x47 for s in syncs) and (len(syncs) >= 2 or len(head) < first + step):
                return True
    return False


def _is_dng(head: bytes) -> bool:
    """A TIFF whose first IFD (inside ``head``) holds the DNGVersion tag."""
    order = "<" if head[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", head, 4)
        (count,) = struct.unpack_from(order + "H", head, offset)
        for entry in range(offset + 2, offset + 2 + 12 * min(count, 512), 12):
            if struct.unpack_from(order + "H", head, entry)[0] == _DNG_VERSION:
                return True
    except struct.error:  # the IFD lies past the head: only the suffix can tell
        return False
    return False


def raw_container(head: bytes) -> str:
    """The container a RAW file (``sniff`` said ``raw``) is built on, from the same first bytes.

    ``tiff`` (DNG, NEF, ARW, CR2, and ORF/RW2 with magic numbers of their own), ``isobmff``
    (Canon CR3), ``raf`` (Fujifilm) or ``x3f`` (Sigma).
    """
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "raf"
    if head[:4] == b"FOVb":
        return "x3f"
    if head[4:8] == b"ftyp":
        return "isobmff"
    return "tiff"


def media_kind(fmt: str) -> str:
    """``video`` or ``photo`` (RAW files are photos developed first)."""
    return "video" if kind_of(fmt) == "video" else "photo"
