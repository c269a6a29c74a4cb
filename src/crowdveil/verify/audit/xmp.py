"""XMP packets, wherever a container keeps them: the packet is flagged, and the kinds its
property names reveal.
"""

from __future__ import annotations

from typing import Any

from .base import Audit

# Property names, and the kind of what their values say.
_XMP_HINTS = (
    (b"mwg-rs:Regions", "face regions"), (b"MP:RegionInfo", "face regions"), (b"MPRI:Regions", "face regions"),
    (b"exif:GPS", "GPS position"), (b"Iptc4xmpCore:Location", "location"), (b"photoshop:City", "location"),
    (b"tiff:Make", "device make/model"), (b"tiff:Model", "device make/model"),
    (b"aux:SerialNumber", "camera serial"), (b"exifEX:BodySerialNumber", "camera serial"),
    (b"xmp:CreateDate", "timestamps"), (b"exif:DateTimeOriginal", "timestamps"),
    (b"photoshop:DateCreated", "timestamps"), (b"dc:creator", "owner/author"), (b"dc:rights", "owner/author"),
    (b"xmp:CreatorTool", "software"),
    # Google motion photos / depth photos describe images appended to the file
    (b"GCamera:MicroVideo", "hidden image"), (b"GCamera:MotionPhoto", "hidden image"),
    (b"Container:Directory", "hidden image"),  # also matches the older GContainer: prefix
    (b"hdrgm:", "hidden image"),  # Ultra HDR gain map described in XMP
)


def classify_xmp(data: Any, start: int, end: int, audit: Audit, where: str) -> None:
    """An XMP packet in ``data[start:end]``: flagged, with the kinds its property names reveal."""
    audit._flag("XMP", where)
    flag_hints(data, start, end, audit, where, _XMP_HINTS)


def flag_hints(data: Any, start: int, end: int, audit: Audit, where: str, hints: tuple) -> None:
    """Flag the kinds whose marker string occurs in a text block (XMP, PictureInfo)."""
    for needle, kind in hints:
        if data.find(needle, start, end) >= 0:
            audit._flag(kind, where)
