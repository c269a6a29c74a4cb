"""JPEG: markers and APPn segments (JFIF, Exif, XMP, ICC, MPF, Photoshop IRB, PictureInfo), then what follows EOI."""

from __future__ import annotations

from typing import Any

from .base import Audit, Malformed, check_trailer, guarded, unpack
from .tiff import walk_tiff
from .xmp import classify_xmp, flag_hints

# Olympus/Agfa/Sanyo "PictureInfo" APP12: "key=value" text lines.
_PICTURE_INFO_HINTS = ((b"TimeDate=", "timestamps"), (b"Serial#=", "camera serial"), (b"Type=", "device make/model"))
_PHOTOSHOP_KINDS = {0x0404: "IPTC", 0x0409: "embedded thumbnail", 0x040C: "embedded thumbnail",
                    0x040F: "colour profile", 0x0422: "EXIF", 0x0424: "XMP"}


def _walk_photoshop(data: Any, pos: int, end: int, audit: Audit, where: str) -> None:
    """Photoshop image resources: "8BIM", id, padded Pascal name, size, data padded to even."""
    while pos < end:
        signature, resource_id, name_length = unpack(">4sHB", data, pos, end)
        if signature != b"8BIM":
            raise Malformed("bad 8BIM resource")
        size_at = pos + 6 + ((name_length + 2) & ~1)
        (size,) = unpack(">I", data, size_at, end)
        if resource_id in _PHOTOSHOP_KINDS:
            audit._flag(_PHOTOSHOP_KINDS[resource_id], f"{where} 8BIM 0x{resource_id:04X}")
        pos = size_at + 4 + size + (size & 1)


_XMP_SIGNATURES = (b"http://ns.adobe.com/xap/1.0/\0", b"http://ns.adobe.com/xmp/extension/\0")
# SOFn, DHT, DAC, SOS, DQT, DNL, DRI, DHP, EXP: the markers a decoder needs.
_JPEG_CODING_MARKERS = frozenset(set(range(0xC0, 0xD0)) - {0xC8} | {0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF})


def parse_jpeg(data: Any, audit: Audit) -> None:
    n, pos = len(data), 2
    while True:
        if pos + 1 >= n:
            raise Malformed("ends before EOI")
        if data[pos] != 0xFF:
            raise Malformed("marker expected")
        while pos + 2 < n and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        marker = data[pos + 1]
        if marker == 0xD9:
            pos += 2
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            pos += 2
            continue
        (length,) = unpack(">H", data, pos + 2, n)
        body, seg_end = pos + 4, pos + 2 + length
        if length < 2 or seg_end > n or marker in (0x00, 0xD8):
            raise Malformed(f"bad segment 0x{marker:02X}")
        guarded(audit, f"JPEG marker 0x{marker:02X}", _classify_jpeg_segment, data, marker, body, seg_end, audit)
        pos = _skip_scan_data(data, seg_end) if marker == 0xDA else seg_end
    check_trailer(data, pos, audit, "JPEG after EOI")


def _skip_scan_data(data: Any, pos: int) -> int:
    """Position of the first marker after entropy-coded data (0xFF00 is stuffing, RSTn continue it)."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise Malformed("scan data runs to the end of the file")
        following = data[pos + 1]
        if following == 0x00 or following == 0xFF or 0xD0 <= following <= 0xD7:
            pos += 1
            continue
        return pos


def _classify_jpeg_segment(data: Any, marker: int, body: int, end: int, audit: Audit) -> None:
    head = bytes(data[body : min(end, body + 40)])
    where = f"JPEG APP{marker - 0xE0}" if 0xE0 <= marker <= 0xEF else f"JPEG marker 0x{marker:02X}"
    if marker in _JPEG_CODING_MARKERS:
        return
    if marker == 0xFE:
        audit._flag("comment", "JPEG COM")
    elif marker == 0xE0 and head.startswith(b"JFIF\0") and end - body >= 14:
        thumbnail_pixels = head[12] * head[13]
        if thumbnail_pixels:
            audit._flag("embedded thumbnail", f"{where} JFIF")
        elif end - body > 14:  # bytes nobody reads
            audit._flag("unknown metadata", f"{where} JFIF extra bytes")
        else:
            audit._note("JFIF header")
    elif marker == 0xE0 and head.startswith(b"JFXX\0"):
        audit._flag("embedded thumbnail", f"{where} JFXX")
    elif marker == 0xE1 and head.startswith(b"Exif\0"):
        audit._flag("EXIF", f"{where} Exif")
        walk_tiff(data, body + 6, end, audit, f"{where} Exif")
    elif marker == 0xE1 and head.startswith(_XMP_SIGNATURES):
        classify_xmp(data, body, end, audit, f"{where} XMP")
    elif marker == 0xE2 and head.startswith(b"ICC_PROFILE\0"):
        audit._flag("colour profile", f"{where} ICC_PROFILE")
    elif marker == 0xE2 and head.startswith(b"MPF\0"):
        audit._flag("hidden image", f"{where} MPF")
    elif marker == 0xED and head.startswith(b"Photoshop 3.0\0"):
        audit._flag("IPTC", f"{where} Photoshop")
        _walk_photoshop(data, body + 14, end, audit, f"{where} Photoshop")
    elif marker == 0xEE and head.startswith(b"Adobe"):
        audit._note("Adobe APP14")
    else:
        audit._flag("unknown metadata", where)
        if marker == 0xEC:
            flag_hints(data, body, end, audit, where, _PICTURE_INFO_HINTS)
